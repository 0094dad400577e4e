"""The matching service's rules, free of I/O: its picture of the district, who may run and see
what, a run's figures and what each caller may see of them, and the choice of re-offers."""
