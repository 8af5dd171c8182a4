"""$dist's hook implementations: what this distribution adds to lab.

Keep this module light: name classes as "module:Class" strings so that they
(and their dependencies) are imported only when an instance is made.
"""

import lab_core


@lab_core.hookimpl
def ${hook}():
    return {"$name": "$package.$kind:$cls"}
