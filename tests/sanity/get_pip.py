# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stands in for the pip bootstrap script that ansible-test downloads into its
cache (~/.ansible/test/cache/get_pip_<version>.py) from a host outside the
package registries. ansible-test runs it with pip's install arguments (e.g.
pip==24.2) in each virtualenv it creates without pip; this installs the pip that
Python's ensurepip carries, then the pip asked for, from the package index.
tests/sanity/run.sh puts it in place, in a HOME of its own."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
# In a process of its own: ensurepip sets PIP_CONFIG_FILE to /dev/null in its
# environment, which would hide the machine's pip configuration from the install.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q", *args]))
