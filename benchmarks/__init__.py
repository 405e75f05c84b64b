"""ee bench: what a durable wait costs, beside the raw parts."""
