"""The generic rule engine: conditions, templates and named functions over the rules in cards/."""
