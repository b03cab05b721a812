# Writes corpus/*.eml (exact CRLF octets). Run from tests/data/dkim with /usr/bin/python3.
import base64, os
C = {}
def crlf(lines): return "\r\n".join(lines).encode("utf-8")
C["01_simple.eml"] = crlf([
 "From: Alice Example <alice@example.test>", "To: bob@example.org",
 "Subject: Lunch tomorrow?", "Date: Mon, 23 Nov 2026 10:00:00 +0000",
 "Message-ID: <20261123100000.1@example.test>", "MIME-Version: 1.0",
 "Content-Type: text/plain; charset=us-ascii", "",
 "Hi Bob,", "", "lunch at noon?", "", "Alice", ""])
C["02_folded_headers.eml"] = crlf([
 "Received: from client.example.test (client.example.test [192.0.2.10])",
 "\tby relay.example.test (splitmail) with ESMTPSA id 4f1c2e;",
 "\tMon, 23 Nov 2026 10:01:00 +0000",
 "From: \"Alice, the Example\"", " <alice@example.test>",
 "To: Bob <bob@example.org>,", "    Carol <carol@example.net>,", "\tDave <dave@example.com>",
 "Cc: eve@example.org", "Subject: A subject that is long enough to be folded over",
 " several lines by a careful", "\t  mail user agent",
 "Date: Mon, 23 Nov 2026 10:01:00 +0000", "Message-ID: <folded.2@example.test>",
 "In-Reply-To: <older.1@example.org>",
 "References: <a.1@example.org> <b.2@example.org>", " <c.3@example.org>", "  <d.4@example.org>",
 "MIME-Version: 1.0", "Content-Type: text/plain;", " charset=\"utf-8\";", " format=flowed",
 "Content-Transfer-Encoding: 7bit", "",
 "Folded headers above, nothing special below.", ""])
C["03_utf8_body.eml"] = crlf([
 "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.test>",
 "To: Zoë Ångström <zoe@example.org>",
 "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=",
 "Date: Mon, 23 Nov 2026 10:02:00 +0100", "Message-ID: <utf8.3@example.test>",
 "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
 "Content-Transfer-Encoding: 8bit", "",
 "Grüße aus Köln — ein schöner Tag. ",
 "日本語のテキスト\t\tとタブ", "Ελληνικά   κείμενο", "emoji: 📬✉️", "", ""])
long1 = "x" * 990
long2 = " ".join(["word"] * 190)
C["04_long_lines.eml"] = crlf([
 "From: alice@example.test", "To: bob@example.org", "Subject: long lines",
 "Date: Mon, 23 Nov 2026 10:03:00 +0000", "Message-ID: <long.4@example.test>", "",
 long1, long2, "tabs\tand   spaces \t  inside\t", "   leading spaces", "\t\tleading tabs",
 "trailing spaces   ", "trailing tab\t", "mixed  \t  run", ""])
C["05_trailing_blank_lines.eml"] = crlf([
 "From: alice@example.test", "To: bob@example.org", "Subject: trailing blank lines",
 "Date: Mon, 23 Nov 2026 10:04:00 +0000", "Message-ID: <trail.5@example.test>", "",
 "text", "", "more text", "", "", "   ", "\t", "", "", ""])
C["06_empty_body.eml"] = crlf([
 "From: alice@example.test", "To: bob@example.org", "Subject: empty body",
 "Date: Mon, 23 Nov 2026 10:05:00 +0000", "Message-ID: <empty.6@example.test>", "", ""])
C["07_whitespace_only_body.eml"] = crlf([
 "From: alice@example.test", "To: bob@example.org", "Subject: whitespace only",
 "Date: Mon, 23 Nov 2026 10:06:00 +0000", "Message-ID: <ws.7@example.test>", "",
 "  ", "\t", "", " \t ", ""])
png = base64.b64encode(bytes(range(256)) * 3).decode()
pngl = [png[i:i+76] for i in range(0, len(png), 76)]
C["08_multipart_alternative_attachment.eml"] = crlf([
 "From: Alice <alice@example.test>", "To: bob@example.org", "Subject: report with attachment",
 "Date: Mon, 23 Nov 2026 10:07:00 +0000", "Message-ID: <mp.8@example.test>",
 "MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"outer-b0undary\"", "",
 "This is a multi-part message in MIME format.", "",
 "--outer-b0undary", "Content-Type: multipart/alternative; boundary=\"inner=_b\"", "",
 "--inner=_b", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "",
 "Hello Bob, the report is attached. Gr=C3=BC=C3=9Fe =", "Alice", "",
 "--inner=_b", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
 "<html><body><p>Hello Bob,   the <b>report</b> is attached.</p>  ", "<p>Grüße</p></body></html>", "",
 "--inner=_b--", "", "--outer-b0undary",
 "Content-Type: application/octet-stream; name=\"data.bin\"",
 "Content-Disposition: attachment; filename=\"data.bin\"", "Content-Transfer-Encoding: base64", ""]
 + pngl + ["", "--outer-b0undary--", "", ""])
C["09_odd_spacing_and_case.eml"] = crlf([
 "FROM:alice@example.test", "to:\t  bob@example.org  ", "SUBJECT:  odd   spacing\t\t here  ",
 "dAtE: Mon, 23 Nov 2026 10:08:00 +0000", "message-id:<odd.9@example.test>",
 "Mime-Version:1.0", "content-TYPE:   text/plain ;  charset = us-ascii", "X-Empty:", "X-Spaces:    ", "",
 "Body  with   odd\tspacing  ", ""])
C["10_duplicate_headers.eml"] = crlf([
 "Received: from a.example.org by b.example.org; Mon, 23 Nov 2026 09:00:00 +0000",
 "Received: from c.example.org by a.example.org; Mon, 23 Nov 2026 08:59:00 +0000",
 "From: alice@example.test", "To: bob@example.org", "To: carol@example.net",
 "Cc: dave@example.com", "Subject: first subject", "Subject: second subject",
 "Date: Mon, 23 Nov 2026 10:09:00 +0000", "Message-ID: <dup.10@example.test>",
 "List-Id: Example list <list.example.test>", "List-Unsubscribe: <mailto:list-unsub@example.test>",
 "List-Unsubscribe: <https://example.test/unsub>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
 "Reply-To: list@example.test", "", "duplicates above", ""])
C["11_body_without_final_crlf.eml"] = crlf([
 "From: alice@example.test", "To: bob@example.org", "Subject: no final CRLF",
 "Date: Mon, 23 Nov 2026 10:10:00 +0000", "Message-ID: <nocrlf.11@example.test>", "",
 "last line has no line end"])
C["12_header_only.eml"] = crlf([
 "From: alice@example.test", "To: bob@example.org", "Subject: no empty line, no body",
 "Date: Mon, 23 Nov 2026 10:11:00 +0000", "Message-ID: <hdr.12@example.test>", ""])
C["13_reply_thread.eml"] = crlf([
 "From: Bob <bob@example.test>", "To: Alice <alice@example.org>", "Subject: Re: Lunch tomorrow?",
 "Date: Mon, 23 Nov 2026 10:12:00 +0000", "Message-ID: <re.13@example.test>",
 "In-Reply-To: <20261123100000.1@example.test>", "References: <20261123100000.1@example.test>",
 "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8; format=flowed",
 "Content-Transfer-Encoding: 8bit", "",
 "Sure. ", "", "On 23/11/2026 10:00, Alice wrote:", "> Hi Bob,", ">", "> lunch at noon?", ">", "> Alice", ""])
for name, data in C.items():
    open(os.path.join("corpus", name), "wb").write(data)
