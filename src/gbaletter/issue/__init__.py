"""Issues: assemble a week's content into an editable manifest, then render it into an email.

`manifest` reads and writes `issues/<ID>/issue.yaml`; `assemble` picks content for a new issue;
`render` turns a manifest into `build/email.html`, `email.txt` and `email.mjml`; `built` reads a
build back and says whether it is current; `check` finds what would hurt readers (its rules are
in `RULES`); `preview` and `screenshot` show the build.
"""
