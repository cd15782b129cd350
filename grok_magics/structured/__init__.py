"""Structured answers: schemas from pydantic, JSON schema or shorthand (``schemas``) and the answer parsed into a
variable (``output``)."""
