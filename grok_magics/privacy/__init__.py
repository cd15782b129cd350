"""Keys and secrets: key shapes refused or masked before sending, known secrets redacted in whatever is shown."""
