"""One router per resource; each only translates HTTP to core calls and back."""
