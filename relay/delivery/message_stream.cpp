// Sending a queued message in pieces; see message_stream.hpp.
#include "delivery/message_stream.hpp"

#include "splitmail/net/bridge.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <unistd.h>

namespace splitmail::relay {

namespace asio = boost::asio;

message_stream::message_stream(queue::spool::stored_message m, asio::thread_pool& readers)
    : m_(std::move(m)), readers_(&readers), size_(m_.size()), offset_(m_.file_offset) {}

message_stream::message_stream(std::string whole)
    : memory_(std::move(whole)), size_(memory_.size()) {}

asio::awaitable<std::string_view> message_stream::next() {
    out_.clear();
    if (phase_ == 0) {
        phase_ = m_.fd ? 1 : 2;
        std::string_view first = m_.fd ? std::string_view(m_.prefix) : std::string_view(memory_);
        if (!first.empty()) {
            stuffer_.feed(out_, first);
            co_return out_;
        }
    }
    if (phase_ == 1) {
        if (offset_ < m_.file_size) {
            const std::size_t want = static_cast<std::size_t>(
                std::min<std::uint64_t>(chunk_size, m_.file_size - offset_));
            raw_.resize(want);
            // The read runs on the pool; this frame stays suspended until it completes.
            auto ec =
                co_await net::await_callback([this, want](std::function<void(std::error_code)> cb) {
                    asio::post(*readers_, [this, want, cb = std::move(cb)] {
                        std::size_t got = 0;
                        std::error_code e;
                        while (got < want) {
                            ssize_t n = ::pread(m_.fd.get(), raw_.data() + got, want - got,
                                                static_cast<off_t>(offset_ + got));
                            if (n < 0) {
                                if (errno == EINTR) continue;
                                e = std::error_code(errno, std::generic_category());
                                break;
                            }
                            if (n == 0) { // shorter than when opened
                                e = std::make_error_code(std::errc::io_error);
                                break;
                            }
                            got += static_cast<std::size_t>(n);
                        }
                        cb(e);
                    });
                });
            if (ec) throw std::system_error(ec, "reading the queued message");
            offset_ += want;
            stuffer_.feed(out_, raw_);
            co_return out_;
        }
        phase_ = 2;
    }
    if (phase_ == 2) {
        phase_ = 3;
        stuffer_.finish(out_);
        raw_ = std::string(); // free the chunk buffer
        co_return out_;
    }
    co_return std::string_view();
}

} // namespace splitmail::relay
