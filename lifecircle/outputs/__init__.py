"""Everything that leaves: files, maps (interactive and static), Markdown and Excel reports.

Nothing here computes a figure that a table of the analysis does not already hold.
"""
