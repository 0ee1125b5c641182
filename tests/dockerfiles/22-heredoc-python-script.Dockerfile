FROM python:3.12-slim
RUN <<EOF python3
import json, sys
data = {"ok": True, "argv": sys.argv}
print(json.dumps(data))
# a comment inside the heredoc is content
EOF
RUN <<EOF
#!/usr/bin/env bash
set -euo pipefail
for i in 1 2 3; do
  echo "line $i" \
    "continued"
done
EOF
