"""bot4 lab: Debian node images and QEMU VMs that look like two-socket HFT servers.

Standard library only, so that ``lab/labctl.py`` runs with the system Python as
well as with the project's virtualenv.
"""
