// Per-folder cache of SORT values; see header_cache.hpp.
#include "imap/header_cache.hpp"

#include "imap/address.hpp"
#include "imap/mime.hpp"
#include "imap/sort_keys.hpp"
#include "imap/store.hpp"

#include "splitmail/durable/file.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace splitmail::home::imap {
namespace {

// The header block of the file at `p` (up to and including the blank line, or the first
// max_header octets; "" when it cannot be read).
std::string read_header(const fs::path& p) {
    durable::unique_fd fd(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    std::string out;
    if (!fd) return out;
    char buf[16 * 1024];
    std::size_t scanned = 0;
    while (out.size() < header_cache::max_header) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        // The blank line: "\n\n" or "\n\r\n"; search only the new octets (and 2 before them).
        std::size_t from = scanned > 2 ? scanned - 2 : 0;
        for (std::size_t i = from; i + 1 < out.size(); ++i) {
            if (out[i] != '\n') continue;
            if (out[i + 1] == '\n') return out.substr(0, i + 2);
            if (out[i + 1] == '\r' && i + 2 < out.size() && out[i + 2] == '\n')
                return out.substr(0, i + 3);
        }
        scanned = out.size();
    }
    if (out.size() > header_cache::max_header) out.resize(header_cache::max_header);
    return out;
}

sort_fields fields_of(std::string_view header) {
    sort_fields f;
    if (auto d = mime::field(header, "Date"))
        if (auto t = sort_keys::sent_date(*d)) f.sent = *t;
    if (auto s = mime::field(header, "Subject"))
        f.subject = sort_keys::base_subject(*s, &f.subject_reply);
    if (auto v = mime::field(header, "Message-ID")) {
        auto ids = sort_keys::message_ids(*v, 1);
        if (!ids.empty()) f.message_id = std::move(ids.back());
    }
    if (auto v = mime::field(header, "References"))
        f.references = sort_keys::message_ids(*v, header_cache::max_references);
    if (f.references.empty())
        if (auto v = mime::field(header, "In-Reply-To")) {
            auto ids = sort_keys::message_ids(*v, header_cache::max_references);
            if (!ids.empty()) f.references.push_back(std::move(ids.front()));
        }
    if (auto v = mime::field(header, "From")) {
        auto l = address::parse_list(*v);
        f.from = sort_keys::first_mailbox(l);
        f.display_from = sort_keys::first_display(l);
    }
    if (auto v = mime::field(header, "To")) {
        auto l = address::parse_list(*v);
        f.to = sort_keys::first_mailbox(l);
        f.display_to = sort_keys::first_display(l);
    }
    if (auto v = mime::field(header, "Cc")) f.cc = sort_keys::first_mailbox(address::parse_list(*v));
    return f;
}

} // namespace

const sort_fields& header_cache::get(const folder& f, const message_entry& m) {
    if (f.uidvalidity() != uidvalidity_) {
        by_uid_.clear();
        uidvalidity_ = f.uidvalidity();
    }
    auto it = by_uid_.find(m.uid);
    if (it != by_uid_.end()) return it->second;
    if (by_uid_.size() >= 64 && by_uid_.size() > 2 * f.messages().size()) prune(f);
    ++reads_;
    return by_uid_.emplace(m.uid, fields_of(read_header(f.path_of(m)))).first->second;
}

void header_cache::prune(const folder& f) {
    std::erase_if(by_uid_, [&](const auto& kv) { return f.find(kv.first) == nullptr; });
}

} // namespace splitmail::home::imap
