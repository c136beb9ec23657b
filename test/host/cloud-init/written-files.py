"""Decode a cloud-config's write_files with cloud-init's own code (the module a first boot runs).

Usage: written-files.py USER_DATA_FILE; prints {path: content} as JSON on standard output.
"""
import json
import sys

import yaml
from cloudinit.config.cc_write_files import canonicalize_extraction, extract_contents

with open(sys.argv[1], encoding="utf-8") as f:
    config = yaml.safe_load(f)
files = {}
for entry in config.get("write_files", []):
    content = extract_contents(entry.get("content", ""), canonicalize_extraction(entry.get("encoding")))
    files[entry["path"]] = content.decode("utf-8") if isinstance(content, bytes) else content
json.dump(files, sys.stdout)
