"""The affairs service: the ledger of residents' concerns, from a grid to the street and closed
item by item."""
