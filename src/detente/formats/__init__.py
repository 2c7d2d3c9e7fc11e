"""Edge adapters: external formats in, core types out, units converted here and only here."""
