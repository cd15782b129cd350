"""Where a request goes: the capability table (one row per provider, no ``if provider ==``) and the SDK clients
built from it, keys kept to their origin."""
