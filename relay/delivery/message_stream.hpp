#pragma once
// A queued message on its way out, in pieces (issue 12 item 2): LMTP to home and SMTP to a
// remote MX send the envelope prefix + msg/<id> through a streaming dot-stuffer, one chunk
// (at most chunk_size octets of the file) at a time, so memory per delivery is bounded by the
// chunk, not the message.
//
// Guarantees: the pieces from next() concatenate to exactly what smtp::append_dot_stuffed gives
// for the whole message (ending with the CRLF "." CRLF terminator; an empty piece means the
// end). File reads run on `readers` (a thread pool the runner owns), never on the io thread;
// the coroutine resumes on its own executor. A read error, or a file shorter than it was when
// opened, throws std::system_error before the terminator is produced, so a transaction can
// never complete with a truncated message (the caller drops the connection).
// Does not: know the protocol, write to the network, or own the pool.
#include "splitmail/queue/spool.hpp"
#include "splitmail/smtp/dot_stuff.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

class message_stream {
public:
    static constexpr std::size_t chunk_size = 256 * 1024;

    message_stream(queue::spool::stored_message m, boost::asio::thread_pool& readers);
    // A message already in memory (reports, tests): no file, no pool.
    explicit message_stream(std::string whole);

    std::uint64_t size() const { return size_; } // octets of the message, before stuffing

    // The next dot-stuffed piece; "" after the terminator was returned.
    boost::asio::awaitable<std::string_view> next();
    // The terminator has been handed out: from here on the peer may have taken the message
    // (a stopping relay lets such a transaction get its reply; before it, cutting the
    // connection off aborts the transaction at the peer).
    bool terminated() const { return phase_ == 3; }

private:
    queue::spool::stored_message m_;
    boost::asio::thread_pool* readers_ = nullptr;
    std::string memory_; // the whole message when there is no file
    std::uint64_t size_ = 0;
    std::uint64_t offset_ = 0; // of the file
    int phase_ = 0;            // 0 prefix/memory, 1 file, 2 terminator, 3 done
    smtp::dot_stuffer stuffer_;
    std::string raw_;
    std::string out_;
};

// The bodies of the transactions a transport has under way, so that transport::active() can
// count those whose terminator is out. A transaction registers its body for as long as it
// runs. Not thread-safe: the io thread only.
class streams_under_way {
public:
    void add(const message_stream& m) { v_.push_back(&m); }
    void remove(const message_stream& m) { std::erase(v_, &m); }
    std::size_t terminated() const {
        return static_cast<std::size_t>(
            std::ranges::count_if(v_, [](const message_stream* m) { return m->terminated(); }));
    }

private:
    std::vector<const message_stream*> v_; // at most one per connection of the transport
};

} // namespace splitmail::relay
