"""The points service (积分): a double-entry ledger of points earned by confirmed hours."""
