"""The synthetic district generator's parts: names, figures, places, units, members, the whole
district and its files. `python -m dev.gen_district` runs it."""
