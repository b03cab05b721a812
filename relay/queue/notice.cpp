// Queuing a DSN for a queued message; see notice.hpp.
#include "queue/notice.hpp"

#include "splitmail/log/log.hpp"
#include "splitmail/net/bridge.hpp"
#include "splitmail/queue/id.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>
#include <unistd.h>

namespace splitmail::relay {

namespace asio = boost::asio;

namespace {

constexpr std::size_t piece_size = 256 * 1024;

// Calls fn with the message (prefix, then the file) in pieces of at most piece_size octets;
// fn returns false to stop early. A read error, or a file shorter than when it was opened,
// is returned.
std::error_code for_each_piece(const queue::spool::stored_message& m, std::string& buf,
                               const std::function<bool(std::string_view)>& fn) {
    for (std::size_t at = 0; at < m.prefix.size(); at += piece_size)
        if (!fn(std::string_view(m.prefix).substr(at, piece_size))) return {};
    std::uint64_t offset = m.file_offset;
    while (offset < m.file_size) {
        const auto want =
            static_cast<std::size_t>(std::min<std::uint64_t>(piece_size, m.file_size - offset));
        buf.resize(want);
        std::size_t got = 0;
        while (got < want) {
            ssize_t n =
                ::pread(m.fd.get(), buf.data() + got, want - got, static_cast<off_t>(offset + got));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return std::error_code(errno, std::generic_category());
            if (n == 0) return std::make_error_code(std::errc::io_error);
            got += static_cast<std::size_t>(n);
        }
        offset += want;
        if (!fn(buf)) return {};
    }
    return {};
}

// Whether `needle` occurs in the message, read in pieces (a match across two pieces counts).
std::error_code occurs(const queue::spool::stored_message& m, std::string& buf,
                       std::string_view needle, bool& found) {
    found = false;
    std::string window; // the end of the previous piece, then the current one
    return for_each_piece(m, buf, [&](std::string_view p) {
        if (window.size() >= needle.size()) window.erase(0, window.size() - (needle.size() - 1));
        window += p;
        found = window.find(needle) != std::string::npos;
        return !found;
    });
}

// The header block of the message, at most dsn_header_excerpt octets (cut after the last
// complete line when the block is longer).
std::error_code header_excerpt(const queue::spool::stored_message& m, std::string& buf,
                               std::string& out) {
    out.clear();
    auto ec = for_each_piece(m, buf, [&](std::string_view p) {
        out.append(p.substr(0, dsn_header_excerpt + 3 - out.size()));
        return out.size() <= dsn_header_excerpt && out.find("\r\n\r\n") == std::string::npos &&
               !out.starts_with("\r\n");
    });
    if (ec) return ec;
    auto block = dsn_header_block(out);
    if (block.size() > dsn_header_excerpt) {
        auto cut = block.rfind("\r\n", dsn_header_excerpt - 2);
        block = cut == std::string_view::npos ? std::string_view() : block.substr(0, cut + 2);
    }
    out.resize(block.size());
    return {};
}

// A RET=FULL failure notice: head, the whole original in pieces, tail, into a spool temp file.
struct streamed {
    std::error_code ec;
    std::optional<dsn_frame> frame;
    std::optional<durable::temp_file> file;
};

void write_full_notice(queue::spool& spool, const queue::envelope& env, dsn_kind kind,
                       const dsn_options& opt, const queue::spool::stored_message& m,
                       streamed& out) {
    std::string buf;
    bool eight_bit = false;
    const std::string base = "=_splitmail_" + env.id;
    bool base_taken = false;
    std::string window;
    out.ec = for_each_piece(m, buf, [&](std::string_view p) {
        if (!eight_bit) eight_bit = std::ranges::any_of(p, [](char c) { return (c & 0x80) != 0; });
        if (!base_taken) {
            if (window.size() >= base.size()) window.erase(0, window.size() - (base.size() - 1));
            window += p;
            base_taken = window.find(base) != std::string::npos;
        }
        return true;
    });
    if (out.ec) return;
    std::error_code scan_error;
    out.frame = make_dsn_frame(env, kind, opt, eight_bit, [&](std::string_view b) {
        if (b == base) return base_taken;
        bool found = false;
        if (auto e = occurs(m, buf, b, found); e) scan_error = e;
        return found;
    });
    if (scan_error) out.ec = scan_error;
    if (out.ec || !out.frame) return;
    auto file = spool.create_message();
    if (!file) {
        out.ec = file.error();
        return;
    }
    file->write(out.frame->head);
    std::string last2;
    std::uint64_t n = 0;
    out.ec = for_each_piece(m, buf, [&](std::string_view p) {
        file->write(p);
        n += p.size();
        if (p.size() >= 2) {
            last2.assign(p.substr(p.size() - 2));
        } else {
            last2 += p;
            if (last2.size() > 2) last2.erase(0, last2.size() - 2);
        }
        return !file->error();
    });
    if (out.ec) return;
    if (n > 0 && last2 != "\r\n") file->write("\r\n");
    file->write(out.frame->tail);
    if (file->error()) {
        out.ec = file->error();
        return;
    }
    out.file = std::move(*file);
}

} // namespace

asio::awaitable<notice_result> queue_notice(queue::spool& spool, asio::thread_pool& readers,
                                            const notice_settings& ns, const queue::envelope& env,
                                            dsn_kind kind, std::vector<std::string> only,
                                            sys_time now, sys_time will_retry_until) {
    notice_result out;
    dsn_options opt;
    opt.reporting_mta = ns.reporting_mta;
    opt.now = now;
    opt.will_retry_until = will_retry_until;
    opt.only = std::move(only);
    const char* kind_name = kind == dsn_kind::failure ? "failure" : "delay";

    // The original, read off the io thread: its header block, or (RET=FULL failure) the
    // whole of it streamed into the notice's spool file. A message deleted meanwhile gives a
    // notice without the original, as before.
    auto msg = spool.open_message(env.id);
    std::optional<dsn_message> small; // a notice held in memory (header block only)
    streamed big;
    std::string headers;
    auto ec = co_await net::await_callback([&](std::function<void(std::error_code)> cb) {
        asio::post(readers, [&, cb = std::move(cb)] {
            std::error_code e;
            if (msg && dsn_encloses_full(env, kind)) {
                write_full_notice(spool, env, kind, opt, *msg, big);
                e = big.ec;
            } else {
                std::string buf;
                if (msg) e = header_excerpt(*msg, buf, headers);
                if (!e) small = make_dsn(env, headers, kind, opt);
            }
            cb(e);
        });
    });
    if (ec) {
        log::error("queue", env.id, "cannot build the notice; keeping the message",
                   {{"kind", kind_name}, {"error", ec.message()}});
        co_return out;
    }
    const dsn_message* meta = small ? &*small : big.frame ? &big.frame->meta : nullptr;
    if (!meta) {
        // Null sender (RFC 5321 4.5.5: never bounce a bounce) or NOTIFY without this kind.
        log::info("queue", env.id, "no notice sent", {{"from", env.sender}, {"kind", kind_name}});
        out.ok = true;
        co_return out;
    }
    auto notice = make_notice_envelope(*meta, queue::make_id(), now);
    if (big.file) notice.size = big.file->size();
    for (auto& r : notice.recipients) {
        auto at = r.address.rfind('@');
        r.route = at != std::string::npos && ns.is_ours(r.address.substr(at + 1))
                      ? queue::rcpt_route::home
                      : queue::rcpt_route::remote;
    }
    ec = co_await net::await_callback([&](std::function<void(std::error_code)> cb) {
        if (small)
            spool.enqueue(notice, "", std::move(small->data), cb);
        else
            spool.enqueue_file(notice, "", std::move(*big.file), cb);
    });
    if (ec) {
        log::error("queue", env.id, "cannot queue the notice; keeping the message",
                   {{"error", ec.message()}});
        co_return out;
    }
    log::info("queue", env.id, kind == dsn_kind::failure ? "bounce queued" : "delay notice queued",
              {{"notice", notice.id}, {"to", meta->recipient}});
    out.ok = true;
    out.notice = std::move(notice);
    co_return out;
}

} // namespace splitmail::relay
