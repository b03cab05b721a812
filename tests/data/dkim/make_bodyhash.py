# Writes bodyhash.expected with dkimpy (python3-dkim): an independent body hash per corpus file.
import dkim, hashlib, base64, os, sys
from dkim.canonicalization import Relaxed
out=[]
for n in sorted(os.listdir('corpus')):
    m=open('corpus/'+n,'rb').read()
    headers, body = dkim.rfc822_parse(m)
    bh=base64.b64encode(hashlib.sha256(Relaxed.canonicalize_body(body)).digest()).decode()
    out.append(f"{n} {bh}")
open('bodyhash.expected','w').write("# corpus file, base64 SHA-256 of its relaxed-canonicalized body, computed by dkimpy 1.1.4\n"+"\n".join(out)+"\n")
