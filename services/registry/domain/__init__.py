"""The registry's rules, without I/O: members (member.py), the organisation (org.py), the
district file (district_file.py) and the errors a broken rule raises (errors.py)."""
