"""The application: the composition root (daemon, core), the hardware factory, schedule, indicators, sd_notify, doctor, test-alert, forget."""
