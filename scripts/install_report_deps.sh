#!/usr/bin/env bash
# Install what deskpulse's reports need beyond pip's dependencies (issue 9). Idempotent, quiet.
#
# Debian packages:
#   libpango-1.0-0 libpangoft2-1.0-0  pango, which WeasyPrint (the PDF renderer) loads at run time
#   libharfbuzz0b libfontconfig1     text shaping and font lookup under pango
#   fonts-dejavu-core                a font for text in PDFs (the reports ask for DejaVu Sans)
#   poppler-utils                    pdftoppm / pdftotext: the tests look at the PDFs as a reader
# Python packages (into $PYTHON, default .venv/bin/python, only when missing):
#   weasyprint (PDF), aiosmtpd (the tests' local SMTP server)
#
# Usage: scripts/install_report_deps.sh            # apt packages + Python packages
#        PYTHON=/path/to/python scripts/install_report_deps.sh
#        SKIP_PIP=1 scripts/install_report_deps.sh  # apt packages only
set -euo pipefail

APT_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libfontconfig1 fonts-dejavu-core poppler-utils)
PY_PACKAGES=(weasyprint aiosmtpd)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "installed: ${missing[*]}"
fi

if [ -z "${SKIP_PIP:-}" ]; then
  cd "$(dirname "$0")/.."
  PY="${PYTHON:-.venv/bin/python}"
  if [ -x "$PY" ] || command -v "$PY" >/dev/null 2>&1; then
    need=()
    for mod in "${PY_PACKAGES[@]}"; do
      "$PY" -c "import $mod" >/dev/null 2>&1 || need+=("$mod")
    done
    if ((${#need[@]})); then
      "$PY" -m pip install --quiet "${need[@]}"
      echo "pip installed: ${need[*]}"
    fi
  fi
fi
