// The recorder of DMARC report records; see store.hpp.
#include "dmarc/store.hpp"

#include "splitmail/durable/file.hpp"
#include "splitmail/log/log.hpp"

#include <algorithm>
#include <fcntl.h>
#include <unistd.h>

namespace splitmail::relay::dmarc {

namespace fs = std::filesystem;

recorder::recorder(fs::path dir, std::chrono::seconds interval, std::size_t max_records)
    : dir_(std::move(dir)), interval_(interval), max_records_(max_records) {}

recorder::~recorder() {
    if (fd_ >= 0) ::close(fd_);
}

bool recorder::open_for(const period& p) {
    if (fd_ >= 0 && p == current_) return true;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    current_ = p;
    count_ = 0;
    warned_ = false;
    std::error_code ec;
    fs::create_directories(dir_, ec);
    const auto path = dir_ / period_file_name(p, "log");
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ < 0) {
        log::error("dmarc", "", "cannot open the report records file",
                   {{"file", path.string()}, {"errno", errno}});
        return false;
    }
    // A restart within the period continues the count (one read of a bounded file, at most
    // once per period).
    if (auto text = durable::read_file(path, {std::size_t{1} << 30, true}))
        count_ = static_cast<std::size_t>(std::count(text->begin(), text->end(), '\n'));
    return true;
}

void recorder::record(const observation& o) {
    if (!open_for(period_of(o.time, interval_))) return;
    if (count_ >= max_records_) {
        if (!warned_)
            log::warn("dmarc", "",
                      "dmarc_reports.max_records reached: not recording more "
                      "messages for this report period",
                      {{"max_records", max_records_}, {"period_begin", current_.begin}});
        warned_ = true;
        return;
    }
    std::string line = encode(o);
    if (line.size() >= max_line) return;
    line += '\n';
    if (auto ec = durable::write_all(fd_, line); ec) {
        log::warn("dmarc", "", "cannot append a report record", {{"error", ec.message()}});
        return;
    }
    ++count_;
}

} // namespace splitmail::relay::dmarc
