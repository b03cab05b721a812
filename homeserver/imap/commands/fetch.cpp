// FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2): FLAGS, UID, INTERNALDATE, RFC822.SIZE, RFC822,
// RFC822.HEADER, RFC822.TEXT, ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<partial> and
// BODY.PEEK[...]; sections "", HEADER, TEXT, MIME, HEADER.FIELDS[.NOT] (...), part numbers.
// CONDSTORE/QRESYNC (RFC 7162 3.1.4, 3.1.5, 3.2.6): the MODSEQ item and the
// (CHANGEDSINCE modseq [VANISHED]) modifier.
// BINARY (RFC 3516, RFC 9051 6.4.5): BINARY[part]<partial>, BINARY.PEEK[...], BINARY.SIZE[part]
// return a leaf part decoded from its Content-Transfer-Encoding (mime::decoded_body), as a
// literal8 "~{n}" when it holds NUL. BINARY[] is the whole message, unchanged. A multipart or
// message/rfc822 part (not a leaf, RFC 9051 6.4.5) or an unknown encoding (RFC 3516 4.3:
// [UNKNOWN-CTE]) fails that message: its FETCH response is left out, the other messages are
// answered, and the command ends NO.
// NUL (issue 11): BODY[...], RFC822* and ENVELOPE/BODYSTRUCTURE strings are plain literals or
// quoted strings, which cannot hold NUL (RFC 3501 9 CHAR8). BODY[part] of a leaf stored with
// an identity encoding (7bit, 8bit, binary) that holds NUL is sent base64-encoded, and
// BODYSTRUCTURE says BASE64 with the encoded size (issue 15 item 1, mime::reencoded_body), so
// the client decodes the stored octets; elsewhere (BODY[], TEXT, RFC822*, header fields) a
// stored NUL is sent as 0x80 (same length: RFC822.SIZE and partial offsets unchanged), and
// BINARY sends it as is in a literal8.
#include "imap/mime.hpp"
#include "imap/commands/handler.hpp"
#include "imap/structure_cache.hpp"
#include "splitmail/durable/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <optional>

namespace splitmail::home::imap {
namespace {

// Caps on one FETCH (issue 11): the items are produced for every message of the set, and
// each BODY[...] item copies message data into the response.
constexpr std::size_t max_fetch_items = 64;    // after ALL/FAST/FULL are expanded
constexpr std::size_t max_header_fields = 256; // in one HEADER.FIELDS[.NOT] list

struct section_item {
    std::string label; // as echoed in the response: "BODY[HEADER]<0>"
    bool peek = false;
    bool binary = false;    // BINARY[...] / BINARY.PEEK[...] (decoded content)
    bool size_only = false; // BINARY.SIZE[...]
    std::vector<unsigned> path;
    std::string what; // "", HEADER, TEXT, MIME, HEADER.FIELDS, HEADER.FIELDS.NOT
    std::vector<std::string> fields;
    bool partial = false;
    std::uint64_t origin = 0, length = 0;
};

struct fetch_item {
    std::string name; // FLAGS, UID, ..., or "SECTION"
    section_item sec;
};

std::expected<section_item, std::string> parse_section(std::string_view atom, bool rfc822_alias) {
    section_item s;
    std::string u = upper(atom);
    std::size_t open = u.find('[');
    std::string head = u.substr(0, open);
    s.peek = head == "BODY.PEEK" || head == "BINARY.PEEK";
    s.binary = head.starts_with("BINARY");
    s.size_only = head == "BINARY.SIZE";
    auto close = u.rfind(']');
    if (close == std::string::npos || close < open) return std::unexpected("bad section");
    std::string spec(atom.substr(open + 1, close - open - 1));
    std::string rest(u.substr(close + 1));
    if (s.binary) {
        // RFC 9051 9: section-binary = "[" [section-part] "]"; BINARY.SIZE has no partial.
        if (!spec.empty() &&
            (spec.front() == '.' || spec.back() == '.' || spec.find("..") != std::string::npos ||
             spec.find_first_not_of("0123456789.") != std::string::npos))
            return std::unexpected("BINARY takes only a part number");
        if (s.size_only && !rest.empty()) return std::unexpected("BINARY.SIZE takes no partial");
    }
    // part numbers
    std::size_t p = 0;
    while (p < spec.size() && spec[p] >= '0' && spec[p] <= '9') {
        unsigned n = 0;
        auto r = std::from_chars(spec.data() + p, spec.data() + spec.size(), n);
        if (r.ec != std::errc() || n == 0) return std::unexpected("bad part number");
        s.path.push_back(n);
        p = static_cast<std::size_t>(r.ptr - spec.data());
        if (p < spec.size() && spec[p] == '.')
            ++p;
        else
            break;
    }
    std::string tail = spec.substr(p);
    std::string tu = upper(tail);
    std::string label_spec;
    for (std::size_t i = 0; i < s.path.size(); ++i)
        label_spec += (i ? "." : "") + std::to_string(s.path[i]);
    if (tu.starts_with("HEADER.FIELDS")) {
        bool neg = tu.starts_with("HEADER.FIELDS.NOT");
        s.what = neg ? "HEADER.FIELDS.NOT" : "HEADER.FIELDS";
        auto args =
            parse_arguments(std::string_view(tail)
                                .substr(s.what.size())
                                .substr(std::min<std::size_t>(1, tail.size() - s.what.size())));
        if (!args || args->size() != 1 || !(*args)[0].is_list() || (*args)[0].items.empty())
            return std::unexpected("bad header field list");
        if ((*args)[0].items.size() > max_header_fields)
            return std::unexpected("Too many header fields (limit " +
                                   std::to_string(max_header_fields) + ")");
        std::string names;
        for (const auto& f : (*args)[0].items) {
            if (f.is_list()) return std::unexpected("bad header field list");
            s.fields.push_back(upper(f.text));
            names += (names.empty() ? "" : " ") + upper(f.text);
        }
        // Sorted once here, so mime::select_fields binary-searches them for every header line
        // of every message (issue 11).
        std::sort(s.fields.begin(), s.fields.end(), [](const std::string& a, const std::string& b) {
            return std::lexicographical_compare(
                a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
                    auto l = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; };
                    return l(x) < l(y);
                });
        });
        label_spec += (label_spec.empty() ? "" : ".") + s.what + " (" + names + ")";
    } else if (tu == "HEADER" || tu == "TEXT" || tu == "MIME" || tu.empty()) {
        if (tu == "MIME" && s.path.empty()) return std::unexpected("MIME needs a part number");
        s.what = tu;
        if (!tu.empty()) label_spec += (label_spec.empty() ? "" : ".") + tu;
    } else {
        return std::unexpected("unknown section");
    }
    if (!rest.empty()) {
        // <origin.length> (RFC 3501 6.4.5)
        if (rest.front() != '<' || rest.back() != '>') return std::unexpected("bad partial");
        std::string inner = rest.substr(1, rest.size() - 2);
        auto dot = inner.find('.');
        if (dot == std::string::npos) return std::unexpected("bad partial");
        auto r1 = std::from_chars(inner.data(), inner.data() + dot, s.origin);
        auto r2 = std::from_chars(inner.data() + dot + 1, inner.data() + inner.size(), s.length);
        if (r1.ec != std::errc() || r2.ec != std::errc() || s.length == 0 ||
            r1.ptr != inner.data() + dot || r2.ptr != inner.data() + inner.size())
            return std::unexpected("bad partial");
        s.partial = true;
    }
    (void)rfc822_alias;
    if (s.binary) {
        // RFC 3516 4.2 / RFC 9051 7.5.2 prose: a partial BINARY carries its origin, as
        // BODY[]<origin> does ("BINARY[1]<0>"); RFC 9051's ABNF omits it (a known erratum),
        // RFC 3516's allows it, and clients match the response to the request by it.
        s.label = (s.size_only ? "BINARY.SIZE[" : "BINARY[") + label_spec + "]";
        if (s.partial) s.label += "<" + std::to_string(s.origin) + ">";
        return s;
    }
    s.label = "BODY[" + label_spec + "]";
    if (s.partial) s.label += "<" + std::to_string(s.origin) + ">";
    return s;
}

std::expected<std::vector<fetch_item>, std::string> parse_items(const value& v) {
    std::vector<fetch_item> out;
    std::vector<const value*> atoms;
    if (v.is_list())
        for (auto& i : v.items) atoms.push_back(&i);
    else
        atoms.push_back(&v);
    for (const value* a : atoms) {
        if (!a->is_atom()) return std::unexpected("bad fetch item");
        std::string u = upper(a->text);
        auto add = [&](std::string n) { out.push_back({std::move(n), {}}); };
        if (u == "ALL") {
            add("FLAGS");
            add("INTERNALDATE");
            add("RFC822.SIZE");
            add("ENVELOPE");
        } else if (u == "FAST") {
            add("FLAGS");
            add("INTERNALDATE");
            add("RFC822.SIZE");
        } else if (u == "FULL") {
            add("FLAGS");
            add("INTERNALDATE");
            add("RFC822.SIZE");
            add("ENVELOPE");
            add("BODY");
        } else if (u == "MODSEQ" || u == "FLAGS" || u == "UID" || u == "INTERNALDATE" ||
                   u == "RFC822.SIZE" || u == "ENVELOPE" || u == "BODY" || u == "BODYSTRUCTURE" ||
                   u == "RFC822" || u == "RFC822.HEADER" || u == "RFC822.TEXT") {
            add(u);
        } else if (u.starts_with("BODY[") || u.starts_with("BODY.PEEK[") ||
                   u.starts_with("BINARY[") || u.starts_with("BINARY.PEEK[") ||
                   u.starts_with("BINARY.SIZE[")) {
            auto s = parse_section(a->text, false);
            if (!s) return std::unexpected(s.error());
            out.push_back({"SECTION", std::move(*s)});
        } else {
            return std::unexpected("unknown fetch item " + u);
        }
        if (out.size() > max_fetch_items)
            return std::unexpected("Too many fetch items (limit " +
                                   std::to_string(max_fetch_items) + ")");
    }
    return out;
}

// Every non-BINARY item (RFC822, BODY[...], RFC822.HEADER/TEXT, partials): a plain literal,
// where NUL is sent as 0x80 (codec.hpp plain_literal; RFC 3501 9: CHAR8 excludes NUL). The
// octet count is unchanged, so RFC822.SIZE (the stored size) and <origin.length> stay
// consistent with what is sent; BINARY[...] gives the original octets as literal8.
std::string literal(std::string_view s) { return plain_literal(s); }

// RFC 3516 4.3 / RFC 9051 4.3: literal8 only when the data holds NUL (a plain literal tells the
// client there is none).
std::string literal_or_literal8(std::string_view s) {
    if (s.find('\0') == std::string_view::npos) return literal(s);
    return "~{" + std::to_string(s.size()) + "}\r\n" + std::string(s); // NUL kept
}

// The decoded data of BINARY[sec] (before any partial): nullopt with `err` set when the part
// is not a leaf or its encoding is unknown. A part that does not exist gives "" (like BODY[]).
std::optional<std::string> binary_data(std::string_view content, const mime::part& tree,
                                       const section_item& sec, std::string& err) {
    if (sec.path.empty()) return std::string(content); // BINARY[]: the message as it is
    const mime::part* p = mime::find_part(tree, sec.path);
    if (!p) return std::string();
    if ((p->multipart() && !p->children.empty()) || p->rfc822()) {
        // RFC 9051 6.4.5: only leaf parts (not multipart/*, message/rfc822).
        if (err.empty()) err = "BINARY is only defined for leaf body parts";
        return std::nullopt;
    }
    auto d = mime::decoded_body(content, *p);
    if (!d && err.empty())
        err = "[UNKNOWN-CTE] Cannot decode Content-Transfer-Encoding " + p->encoding;
    return d;
}

} // namespace

// What is left of a FETCH answered over several steps (session.hpp: output_chunk).
struct fetch_job {
    std::string tag, name;
    std::vector<fetch_item> items;
    std::vector<std::size_t> idx; // the set's sequence numbers - 1, ascending
    std::size_t next = 0;         // the first index in idx not answered yet
    bool needs_body = false, needs_tree = false, want_flags = false, want_modseq = false;
    // Every content item is ENVELOPE, BODYSTRUCTURE or BODY: a message whose strings are all
    // in the folder's structure_cache is answered without reading its file.
    bool structure_only = false;
    std::optional<std::uint64_t> changed_since;
    std::string binary_error; // the first BINARY failure: the tagged NO
    bool expunge_ok = false;  // UID FETCH: the sync after it may report expunges
    // One content item, the whole message or a piece of it (RFC822, BODY[]<o.n>): a message
    // larger than a step is sent from its file over several steps instead of being read whole.
    bool streamable = false;
    // The literal being sent from the file (open: renames and expunges do not disturb it),
    // what is left of it, and the rest of that message's response, written after it.
    durable::unique_fd file;
    std::uint64_t offset = 0, left = 0;
    std::string tail;
};

namespace {

// Whether every ENVELOPE/BODYSTRUCTURE/BODY item of `job` is cached for `m`.
bool all_cached(const fetch_job& job, structure_cache& cache, const folder& f,
                const message_entry& m) {
    for (const auto& i : job.items) {
        auto what = i.name == "ENVELOPE"        ? structure_cache::item::envelope
                    : i.name == "BODYSTRUCTURE" ? structure_cache::item::bodystructure
                    : i.name == "BODY"          ? structure_cache::item::body
                                                : std::optional<structure_cache::item>{};
        if (what && !cache.find(f.uidvalidity(), m.uid, *what)) return false;
    }
    return true;
}

// Sends what this step allows of the literal being streamed (`out` up to `limit`, at least one
// read), then its message's tail. True when the literal is complete. NUL octets go as 0x80
// (append_plain_literal). A file shorter than it was when opened (nothing truncates a Maildir
// message) is padded with spaces: the client was promised the octet count.
bool pump_literal(fetch_job& job, std::string& out, std::size_t limit) {
    while (job.left > 0) {
        if (out.size() >= limit) return false;
        const std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(job.left, std::max<std::size_t>(limit - out.size(), 65536)));
        const std::size_t at = out.size();
        out.resize(at + n);
        auto r = ::pread(job.file.get(), out.data() + at, n, static_cast<off_t>(job.offset));
        if (r < 0 && errno == EINTR) {
            out.resize(at);
            continue;
        }
        std::size_t got = r > 0 ? static_cast<std::size_t>(r) : 0;
        if (got == 0) {
            std::fill(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(), ' ');
            got = n;
        } else {
            out.resize(at + got);
            std::replace(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(), '\0', '\x80');
        }
        job.offset += got;
        job.left -= got;
    }
    out += job.tail;
    job.tail.clear();
    job.file.reset();
    return true;
}

} // namespace

void commands::fetch(handler_context& ctx, const command& c) {
    std::string& out = ctx.out;
    const auto& view = *ctx.selected(); // the selected state only (command table)
    bool uid = c.name == "UID FETCH";
    if (c.args.size() < 2 || c.args.size() > 3 || !c.args[0].is_atom() ||
        (c.args.size() == 3 && !c.args[2].is_list())) {
        out += bad(c, "Expected a sequence set, fetch items and optional modifiers");
        return;
    }
    auto set = parse_sequence_set(c.args[0].text);
    if (!set) {
        out += bad(c, set.error());
        return;
    }
    auto items = parse_items(c.args[1]);
    if (!items) {
        out += bad(c, items.error());
        return;
    }
    // RFC 7162 3.1.4.1 CHANGEDSINCE, 3.2.6 VANISHED (UID FETCH only, QRESYNC enabled).
    std::optional<std::uint64_t> changed_since;
    bool vanished = false;
    if (c.args.size() == 3) {
        const auto& mods = c.args[2].items;
        for (std::size_t k = 0; k < mods.size(); ++k) {
            std::string u = upper(mods[k].text);
            if (mods[k].is_atom() && u == "CHANGEDSINCE" && k + 1 < mods.size()) {
                const std::string& t = mods[++k].text;
                std::uint64_t v = 0;
                auto r = std::from_chars(t.data(), t.data() + t.size(), v);
                if (r.ec != std::errc() || r.ptr != t.data() + t.size()) {
                    out += bad(c, "CHANGEDSINCE needs a mod-sequence");
                    return;
                }
                changed_since = v;
            } else if (mods[k].is_atom() && u == "VANISHED") {
                vanished = true;
            } else {
                out += bad(c, "Unknown FETCH modifier " + u);
                return;
            }
        }
        if (vanished && (!uid || !ctx.qresync() || !changed_since)) {
            out += bad(c, "VANISHED needs UID FETCH, ENABLE QRESYNC and CHANGEDSINCE");
            return;
        }
    }
    auto has = [&](std::string_view n) {
        return std::any_of(items->begin(), items->end(), [&](auto& i) { return i.name == n; });
    };
    if (changed_since && !has("MODSEQ")) items->push_back({"MODSEQ", {}}); // RFC 7162 3.1.4.1
    if (has("MODSEQ")) ctx.condstore_used(out);
    if (uid && !has("UID")) items->insert(items->begin(), {"UID", {}}); // RFC 3501 6.4.8
    bool needs_body = std::any_of(items->begin(), items->end(), [](auto& i) {
        return i.name != "FLAGS" && i.name != "UID" && i.name != "INTERNALDATE" &&
               i.name != "RFC822.SIZE" && i.name != "MODSEQ";
    });
    bool want_flags = has("FLAGS"), want_modseq = has("MODSEQ");
    if (!uid && !set->saved)
        for (const auto& r : set->ranges)
            if ((r.lo > view.uids.size()) || (r.hi > view.uids.size())) {
                out += bad(c, "Invalid message sequence number");
                return;
            }
    if (vanished) {
        // RFC 7162 3.2.6: UIDs of the set expunged since CHANGEDSINCE, before the FETCHes.
        std::uint32_t largest =
            std::max(view.uids.empty() ? 0u : view.uids.back(), view.f->uidnext() - 1);
        auto gone = vanished_set(view.f->expunged_since(*changed_since), &*set, largest);
        if (!gone.empty()) out += "* VANISHED (EARLIER) " + gone + "\r\n";
    }
    auto job = std::make_shared<fetch_job>();
    job->tag = c.tag;
    job->name = c.name;
    job->items = std::move(*items);
    job->idx = ctx.resolve_set(*set, uid);
    job->needs_body = needs_body;
    // The MIME tree only for what addresses parts or the header: a plain BODY[] / RFC822 /
    // BINARY[] of a 25 MB message is sent without parsing it.
    job->needs_tree = std::any_of(job->items.begin(), job->items.end(), [](const fetch_item& i) {
        if (i.name == "SECTION") return !i.sec.path.empty() || !i.sec.what.empty();
        return i.name == "ENVELOPE" || i.name == "BODYSTRUCTURE" || i.name == "BODY" ||
               i.name == "RFC822.HEADER" || i.name == "RFC822.TEXT";
    });
    job->structure_only =
        needs_body && std::all_of(job->items.begin(), job->items.end(), [](const fetch_item& i) {
            return i.name == "ENVELOPE" || i.name == "BODYSTRUCTURE" || i.name == "BODY" ||
                   i.name == "FLAGS" || i.name == "UID" || i.name == "INTERNALDATE" ||
                   i.name == "RFC822.SIZE" || i.name == "MODSEQ";
        });
    job->want_flags = want_flags;
    job->want_modseq = want_modseq;
    job->changed_since = changed_since;
    job->expunge_ok = uid;
    {
        std::size_t content_items = 0;
        bool whole = false;
        for (const auto& i : job->items) {
            if (i.name == "RFC822" ||
                (i.name == "SECTION" && !i.sec.binary && i.sec.path.empty() && i.sec.what.empty()))
                whole = true;
            if (i.name != "FLAGS" && i.name != "UID" && i.name != "INTERNALDATE" &&
                i.name != "RFC822.SIZE" && i.name != "MODSEQ")
                ++content_items;
        }
        job->streamable = !job->needs_tree && content_items == 1 && whole;
    }
    out.reserve(out.size() +
                std::min<std::size_t>(job->idx.size() * (needs_body ? 256 : 48), ctx.output_chunk));
    ctx.pending_fetch = std::move(job);
    continue_fetch(ctx, false);
}

void commands::continue_fetch(handler_context& ctx, bool resumed) {
    std::string& out = ctx.out;
    auto& job = *ctx.pending_fetch;
    const auto& items = job.items;
    // The view of this session cannot change between steps (nothing else runs on it); a
    // message another session expunged meanwhile is skipped below.
    auto& s = *ctx.selected();
    auto& structures = s.f->structures();
    std::string content; // outside the loop: FLAGS-only fetches construct nothing per message
    mime::part tree;
    // `idx` ascends, so do the UIDs: walk the folder's messages once instead of a binary
    // search per message (100,000 searches are mostly cache misses).
    const auto& all = s.f->messages();
    std::size_t cursor = 0;
    if (job.next < job.idx.size()) {
        const auto first_uid = s.uids[job.idx[job.next]];
        cursor = static_cast<std::size_t>(
            std::lower_bound(all.begin(), all.end(), first_uid,
                             [](const message_entry& e, std::uint32_t u) { return e.uid < u; }) -
            all.begin());
    }
    // At least one message per step; then stop once the chunk is full (issue 12: a step's
    // output is bounded by output_chunk plus one message, whatever the set).
    const std::size_t start_size = out.size();
    const std::size_t limit = start_size + ctx.output_chunk;
    if (job.file && !pump_literal(job, out, limit)) return; // a literal is under way
    // Between responses: the folder is shared with this user's other sessions, so a keyword
    // one of them stored (before this command, or between two steps of it) is already in the
    // flags below; FLAGS/PERMANENTFLAGS go first (RFC 3501 7.2.6; a no-op when announced).
    ctx.announce_flags(out);
    for (; job.next < job.idx.size(); ++job.next) {
        if (out.size() - start_size >= ctx.output_chunk && out.size() > start_size) return;
        const auto i = job.idx[job.next];
        while (cursor < all.size() && all[cursor].uid < s.uids[i]) ++cursor;
        const message_entry* m =
            cursor < all.size() && all[cursor].uid == s.uids[i] ? &all[cursor] : nullptr;
        if (!m) continue; // expunged by another session, not yet reported (RFC 2180 4.1)
        if (job.changed_since && m->modseq <= *job.changed_since) continue;
        // A message larger than a step, of a streamable FETCH: opened, sent from the file.
        durable::unique_fd file;
        std::uint64_t file_size = 0;
        if (job.streamable && m->size > ctx.output_chunk) {
            file.reset(::open(s.f->path_of(*m).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
            struct stat st {};
            if (!file || ::fstat(file.get(), &st) != 0) continue; // gone: as a failed read
            file_size = static_cast<std::uint64_t>(st.st_size);
            content.clear();
        } else if (job.needs_body &&
                   !(job.structure_only && all_cached(job, structures, *s.f, *m))) {
            auto r = s.f->read(m->uid);
            if (!r) continue;
            content = std::move(*r);
            tree = job.needs_tree ? mime::parse(content) : mime::part{};
        }
        std::size_t stream_at = std::string::npos; // where the streamed literal's octets go
        // BINARY items are decoded first: one that fails leaves this message out entirely
        // (no partial response, no \Seen) and makes the command end NO (RFC 3516 4.3).
        std::vector<std::string> decoded;
        bool binary_failed = false;
        for (const auto& it : items) {
            if (it.name != "SECTION" || !it.sec.binary) continue;
            auto d = binary_data(content, tree, it.sec, job.binary_error);
            if (!d) {
                binary_failed = true;
                break;
            }
            decoded.push_back(std::move(*d));
        }
        if (binary_failed) continue;
        std::size_t next_decoded = 0;
        bool set_seen = false;
        // Written straight into `out`: `UID FETCH 1:* (FLAGS)` on 100,000 messages is one of
        // the hot paths (store.hpp).
        out += "* ";
        out += std::to_string(i + 1);
        out += " FETCH (";
        bool first = true;
        auto sep = [&]() {
            if (!first) out += ' ';
            first = false;
        };
        auto add = [&](std::string_view x) {
            sep();
            out += x;
        };
        // ENVELOPE/BODYSTRUCTURE/BODY from the folder's cache, computed (and kept) on a miss.
        auto add_structure = [&](std::string_view label, structure_cache::item what, auto compute) {
            sep();
            out += label;
            if (const auto* v = structures.find(s.f->uidvalidity(), m->uid, what)) {
                out += *v;
                return;
            }
            std::string v = compute();
            out += v;
            structures.put(s.f->uidvalidity(), m->uid, what, std::move(v));
        };
        // A literal written into `out` directly: a 25 MB BODY[] is not copied again.
        auto add_literal = [&](std::string_view label, std::string_view data) {
            sep();
            out += label;
            out += ' ';
            append_plain_literal(out, data);
        };
        // The same for a message sent from its file: its octet count now, the octets later.
        auto add_streamed = [&](std::string_view label, std::uint64_t origin, std::uint64_t len) {
            origin = std::min(origin, file_size);
            len = std::min(len, file_size - origin);
            sep();
            out += label;
            out += " {";
            out += std::to_string(len);
            out += "}\r\n";
            stream_at = out.size();
            job.offset = origin;
            job.left = len;
        };
        for (const auto& it : items) {
            const std::string& n = it.name;
            if (n == "UID") {
                sep();
                out += "UID ";
                out += std::to_string(m->uid);
            } else if (n == "FLAGS" || n == "MODSEQ") {
            } // at the end, after \Seen may change
            else if (n == "INTERNALDATE")
                add("INTERNALDATE \"" + format_date(s.f->internal_date(*m)) + "\"");
            else if (n == "RFC822.SIZE")
                add("RFC822.SIZE " + std::to_string(m->size));
            else if (n == "ENVELOPE")
                add_structure("ENVELOPE ", structure_cache::item::envelope,
                              [&] { return mime::envelope(mime::header_of(content, tree)); });
            else if (n == "BODYSTRUCTURE")
                add_structure("BODYSTRUCTURE ", structure_cache::item::bodystructure,
                              [&] { return mime::body_structure(content, tree, true); });
            else if (n == "BODY")
                add_structure("BODY ", structure_cache::item::body,
                              [&] { return mime::body_structure(content, tree, false); });
            else if (n == "RFC822" && file) {
                add_streamed("RFC822", 0, file_size);
                set_seen = true;
            } else if (n == "RFC822") {
                add_literal("RFC822", content);
                set_seen = true;
            } else if (n == "RFC822.HEADER")
                add_literal("RFC822.HEADER", mime::header_of(content, tree));
            else if (n == "RFC822.TEXT") {
                add_literal("RFC822.TEXT", mime::body_of(content, tree));
                set_seen = true;
            } else if (n == "SECTION") {
                const auto& sec = it.sec;
                if (sec.binary) {
                    std::string& d = decoded[next_decoded++];
                    if (sec.size_only) {
                        add(sec.label + " " + std::to_string(d.size()));
                        continue;
                    }
                    if (!sec.peek) set_seen = true;
                    if (sec.partial) // RFC 3516 4.2: origin and length count decoded octets
                        d = sec.origin >= d.size() ? std::string()
                                                   : d.substr(sec.origin, sec.length);
                    add(sec.label + " " + literal_or_literal8(d));
                    continue;
                }
                if (!sec.peek) set_seen = true;
                if (file) { // BODY[] or BODY[]<origin.length> of a streamed message
                    add_streamed(sec.label, sec.partial ? sec.origin : 0,
                                 sec.partial ? sec.length : file_size);
                    continue;
                }
                std::string owned;     // selected header fields are built
                std::string_view data; // everything else is a piece of `content`
                const mime::part* p = sec.path.empty() ? &tree : mime::find_part(tree, sec.path);
                if (p) {
                    // HEADER/TEXT of a part address its message/rfc822 content.
                    const mime::part* msgp = p;
                    if (!sec.path.empty() && p->rfc822() && !p->children.empty() &&
                        (sec.what.starts_with("HEADER") || sec.what == "TEXT"))
                        msgp = &p->children[0];
                    if (sec.what.empty() && !sec.path.empty()) {
                        // A leaf holding NUL goes base64-encoded, as BODYSTRUCTURE says
                        // (mime::reencoded_body; issue 15 item 1, RFC 3501 9 CHAR8).
                        if (auto b64 = mime::reencoded_body(content, *p)) {
                            owned = std::move(*b64);
                            data = owned;
                        } else {
                            data = mime::body_of(content, *p);
                        }
                    } else if (sec.what.empty())
                        data = content;
                    else if (sec.what == "HEADER" || sec.what == "MIME")
                        data = mime::header_of(content, sec.what == "MIME" ? *p : *msgp);
                    else if (sec.what == "TEXT")
                        data = mime::body_of(content, *msgp);
                    else {
                        owned = mime::select_fields(mime::header_of(content, *msgp), sec.fields,
                                                    sec.what == "HEADER.FIELDS.NOT");
                        data = owned;
                    }
                }
                if (sec.partial)
                    data = sec.origin >= data.size() ? std::string_view()
                                                     : data.substr(sec.origin, sec.length);
                add_literal(sec.label, data);
            }
        }
        bool flags_changed = false;
        if (set_seen && !s.readonly && !(m->flags & flag_seen)) {
            // RFC 3501 6.4.5: BODY[...] without PEEK sets \Seen; the new flags are returned.
            s.f->set_flags(m->uid, static_cast<std::uint8_t>(m->flags | flag_seen));
            m = s.f->find(s.uids[i]);
            flags_changed = true;
        }
        if (job.want_flags || flags_changed) {
            s.note_reported(m->uid, m->modseq);
            sep();
            out += "FLAGS ";
            s.f->append_flags(out, *m, !s.recent.empty() && s.recent.count(m->uid) > 0);
        }
        // RFC 7162 3.2.4: once CONDSTORE is on, a flag change reported here carries MODSEQ.
        if (job.want_modseq || (flags_changed && ctx.condstore())) {
            sep();
            out += "MODSEQ (";
            out += std::to_string(m->modseq);
            out += ')';
        }
        out += ")\r\n";
        if (stream_at != std::string::npos) {
            // What follows the literal waits for its octets (pump_literal).
            job.tail.assign(out, stream_at);
            out.resize(stream_at);
            job.file = std::move(file);
            if (!pump_literal(job, out, limit)) {
                ++job.next;
                return;
            }
        }
    }
    const command c{job.tag, job.name, {}};
    // A FETCH done in its first step is followed by dispatch()'s sync; one that took several
    // steps gets its untagged updates here, after its last FETCH response and before the
    // tagged line, as any other command (nothing is reported in the middle of it).
    if (resumed && ctx.selected()) ctx.sync_view(job.expunge_ok, out);
    if (!job.binary_error.empty())
        out += no(c, job.binary_error);
    else
        out += ok(c, c.name + " completed");
    ctx.pending_fetch.reset();
}

} // namespace splitmail::home::imap
