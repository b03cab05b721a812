// The greylist's state file; see greylist_file.hpp.
#include "filter/greylist_file.hpp"

#include "splitmail/durable/file.hpp"
#include "splitmail/log/log.hpp"

#include <cstdio>

namespace splitmail::relay::filter {
namespace {

wall_seconds now_s() {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

// Called from the writer thread: logs are thread-safe, nothing else is touched.
bool write_state(const std::filesystem::path& file, const std::string& bytes, std::size_t n) {
    durable::replace_options opt;
    opt.locked = true; // the relay holds the spool lock: it is the file's only writer
    auto r = durable::replace_file(file, bytes, opt);
    if (!r) {
        log::error("greylist", "", "cannot save the greylist state (kept in memory, retried)",
                   {{"error", r.error().text()}});
        return false;
    }
    log::debug("greylist", "", "state saved", {{"file", file.string()}, {"entries", n}});
    return true;
}

} // namespace

greylist_file::greylist_file(boost::asio::io_context& io, greylist_policy p,
                             std::filesystem::path file, std::chrono::seconds save_every)
    : store_(p), file_(std::move(file)), every_(save_every), timer_(io) {}

greylist_file::~greylist_file() {
    if (writer_.joinable()) writer_.join();
}

void greylist_file::load() {
    // The largest file we could have written for this max_entries, with room for a
    // max_entries that was lowered since (the load then trims it by the eviction rule).
    durable::read_options ro;
    ro.max_size = greylist::header_size + greylist::trailer_size +
                  greylist::record_size * store_.policy().max_entries * 4;
    auto r = durable::read_file_if_exists(file_, ro);
    if (!r) {
        log::error("greylist", "", "cannot read the greylist state; starting with an empty list",
                   {{"error", r.error().text()}});
        return;
    }
    if (!*r) {
        log::info("greylist", "", "no state file yet; starting with an empty list",
                  {{"file", file_.string()}});
        return;
    }
    auto ok = store_.load(**r, now_s());
    if (!ok) {
        const auto aside = std::filesystem::path(file_.string() + ".corrupt");
        std::error_code ec;
        std::filesystem::rename(file_, aside, ec);
        log::error("greylist", "",
                   "greylist state file unusable; moved aside, starting with "
                   "an empty list",
                   {{"file", file_.string()},
                    {"error", ok.error()},
                    {"moved_to", ec ? "(not moved: " + ec.message() + ")" : aside.string()}});
        return;
    }
    saved_changes_ = store_.changes();
    log::info("greylist", "", "state loaded",
              {{"file", file_.string()}, {"entries", store_.size()}});
}

void greylist_file::start() { arm(); }

void greylist_file::arm() {
    if (stopped_) return;
    timer_.expires_after(every_);
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped_) return;
        save_async();
        arm();
    });
}

void greylist_file::save_async() {
    if (store_.changes() == saved_changes_ && !failed_->load()) return;
    if (writing_->load()) return;           // the next tick takes this change
    if (writer_.joinable()) writer_.join(); // finished: writing_ is false
    saved_changes_ = store_.changes();
    auto bytes = std::make_shared<std::string>(store_.serialize(now_s()));
    const std::size_t n =
        (bytes->size() - greylist::header_size - greylist::trailer_size) / greylist::record_size;
    writing_->store(true);
    failed_->store(false);
    writer_ = std::thread([file = file_, bytes, n, flag = writing_, failed = failed_] {
        if (!write_state(file, *bytes, n)) failed->store(true);
        flag->store(false);
    });
}

void greylist_file::stop() {
    stopped_ = true;
    timer_.cancel();
    if (writer_.joinable()) writer_.join();
    writing_->store(false);
    if (store_.changes() == saved_changes_ && !failed_->load()) return;
    saved_changes_ = store_.changes();
    auto bytes = store_.serialize(now_s());
    write_state(file_, bytes,
                (bytes.size() - greylist::header_size - greylist::trailer_size) /
                    greylist::record_size);
}

} // namespace splitmail::relay::filter
