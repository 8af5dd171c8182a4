"""lab-scpi: SCPI/VISA and serial line-protocol instruments for the lab collector."""
