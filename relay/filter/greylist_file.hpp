#pragma once
// The greylist's state file (issue 18): loads it at start, saves it within `save_every` of a
// change and once more at stop, so greylisting survives restarts.
//
// Saving never blocks the io thread for long: the table is serialised on the io thread (a
// copy of fixed 40-octet records, a few milliseconds for 100 000 entries), then written on a
// thread of its own by durable::replace_file (write temp, fsync, rename, fsync the directory),
// so the file is always a complete old or new state. At most one write is in flight; a
// change made meanwhile goes into the next one. A crash loses at most the changes of the last
// `save_every` (a sender is then greylisted once more: a delay, never a lost message).
// A state file that cannot be parsed is logged as an error, moved aside to NAME.corrupt and
// the relay starts with an empty list.
// Does not do: decide anything (greylist.hpp).
#include "filter/greylist.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

namespace splitmail::relay::filter {

class greylist_file {
public:
    greylist_file(boost::asio::io_context& io, greylist_policy p, std::filesystem::path file,
                  std::chrono::seconds save_every = std::chrono::seconds(60));
    ~greylist_file(); // joins a write in flight
    greylist_file(const greylist_file&) = delete;
    greylist_file& operator=(const greylist_file&) = delete;

    greylist& store() { return store_; }
    const std::filesystem::path& path() const { return file_; }

    // Blocking (start-up, before the listeners): reads the file if there is one.
    void load();
    // Starts the periodic save on the io thread.
    void start();
    // Cancels the timer, waits for a write in flight and writes the current state (blocking:
    // for the end of the relay, after the io loop stopped).
    void stop();

private:
    void arm();
    void save_async();

    greylist store_;
    std::filesystem::path file_;
    std::chrono::seconds every_;
    boost::asio::steady_timer timer_;
    std::uint64_t saved_changes_ = 0;
    std::thread writer_;
    std::shared_ptr<std::atomic<bool>> writing_ = std::make_shared<std::atomic<bool>>(false);
    std::shared_ptr<std::atomic<bool>> failed_ = std::make_shared<std::atomic<bool>>(false);
    bool stopped_ = false;
};

} // namespace splitmail::relay::filter
