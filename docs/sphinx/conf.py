# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sphinx settings for `make docs`: HTML from the reStructuredText that
antsibull-docs writes for the collection's modules, filters and roles."""
project = "bot4.hft"
author = "bot4 platform team"
copyright = "bot4 platform team"
root_doc = "index"
html_theme = "alabaster"
html_title = "bot4.hft: modules, filters and roles"
exclude_patterns = []


def _source_read(app, docname, source):
    # antsibull-docs' simplified RST links the pages as files (`x.rst`); in
    # HTML they are x.html. The index takes every page into the toctree.
    text = source[0].replace(".rst>`_", ".html>`_")
    if docname == "index":
        text += "\n\n.. toctree::\n   :hidden:\n   :glob:\n\n   *\n"
    source[0] = text


def setup(app):
    app.connect("source-read", _source_read)
