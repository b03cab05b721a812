"""RFC 7489 Appendix C's schema, made usable by a validator, and a checker around xmllint.

tests/data/dmarc/rfc7489-appendix-c.xsd is the schema as the RFC prints it. As printed, no
validator can use it (xmllint: "References from this schema to components in no namespace are
not allowed"): it declares targetNamespace="http://dmarc.org/dmarc-xml/0.1" but refers to its
own types without a prefix and without a default namespace, so every reference points at a
type in no namespace that does not exist; and its IPAddress pattern is wrapped over three lines
for the page width, so the pattern would contain the line breaks and indentation. corrected()
makes exactly two mechanical changes and fails if either does not apply once:
  1. the targetNamespace attribute is dropped: the schema then describes documents in no
     namespace, which is how aggregate reports are sent in practice (the RFC's own sample
     report in 7.2.1.1 has a bare <feedback>) and what receivers' parsers expect;
  2. the pattern's line breaks and the indentation after them are removed.
Nothing else changes: element names, types, order, occurrences and enumerations are the RFC's.
"""
import re
import subprocess
from pathlib import Path

XMLLINT = "/usr/bin/xmllint"


def corrected(xsd_text: str) -> str:
    out, n = re.subn(r'\s+targetNamespace="http://dmarc\.org/dmarc-xml/0\.1"', "", xsd_text)
    if n != 1:
        raise ValueError(f"targetNamespace correction applied {n} times, not once")

    def join(m):
        return 'value="' + re.sub(r"\n\s*", "", m.group(1)) + '"'
    out, n = re.subn(r'value="(\(\(1\?\[0-9\][^"]*)"', join, out)
    if n != 1:
        raise ValueError(f"IPAddress pattern correction applied {n} times, not once")
    return out


def write_corrected(xsd: Path, work: Path) -> Path:
    fixed = work / "rfc7489-appendix-c.corrected.xsd"
    fixed.write_text(corrected(xsd.read_text()))
    return fixed


def xmllint(schema: Path, document: Path) -> tuple[bool, str]:
    """(valid, xmllint's output) of `xmllint --noout --schema schema document`."""
    r = subprocess.run([XMLLINT, "--noout", "--schema", str(schema), str(document)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode == 0, (r.stdout + r.stderr).strip()
