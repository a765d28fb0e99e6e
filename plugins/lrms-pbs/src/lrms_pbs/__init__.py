"""lrms backend for PBS: PBS Professional / OpenPBS and Torque."""
