#pragma once
// Where DMARC observations wait for their report (issue 17): one append-only file per report
// period in the relay's state directory (dmarc_reports.dir, by default <spool.dir>/dmarc, next
// to the greylist's state file), named "records-BEGIN-END.log" (unix seconds, END exclusive),
// one observation.hpp line each; "records-BEGIN-END.sent" marks a period whose reports were
// handed to the queue.
//
// The recorder appends on the io thread with one write(2) of one line to a file opened
// O_APPEND (a page-cache copy of a few hundred octets, no fsync): cheap enough for the end of
// DATA, and a line is never interleaved with another. A crash loses at most what the kernel
// had not written back; reports are statistics, never mail, so that is accepted.
// Bounded: at most `max_records` lines per period (the next are dropped, with one warning in
// the log per period); a line longer than max_line is dropped.
//
// Guarantees: period_of() is pure (periods are aligned to multiples of the interval since the
// epoch, so a 1d interval gives UTC days); list_periods() returns the periods found, sorted by
// begin, each with whether it was sent; mark_sent() makes the .sent file durable (write temp,
// fsync, rename, fsync dir) before it returns.
// Does not: build or send reports (report_job.hpp), or delete old files (sent periods older
// than `keep` are removed by prune()).
#include "dmarc/observation.hpp"

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::dmarc {

inline constexpr std::size_t max_line = 8192;

struct period {
    std::int64_t begin = 0;
    std::int64_t end = 0; // exclusive
    bool operator==(const period&) const = default;
};

period period_of(std::int64_t now, std::chrono::seconds interval);
std::string period_file_name(const period& p, std::string_view ext); // ext "log" or "sent"
std::optional<period> parse_period_file_name(std::string_view name, std::string_view ext);

struct stored_period {
    period p;
    std::filesystem::path log;
    bool sent = false;
};
std::vector<stored_period> list_periods(const std::filesystem::path& dir);

struct read_result {
    std::vector<observation> records;
    std::size_t bad_lines = 0;
};
std::expected<read_result, std::string> read_period(const std::filesystem::path& log);

std::error_code mark_sent(const std::filesystem::path& dir, const period& p);
// Removes the .log and .sent files of sent periods that ended before `before`.
void prune(const std::filesystem::path& dir, std::int64_t before);

class recorder {
public:
    recorder(std::filesystem::path dir, std::chrono::seconds interval, std::size_t max_records);
    ~recorder();
    recorder(const recorder&) = delete;
    recorder& operator=(const recorder&) = delete;

    // Appends `o` to the file of o.time's period (opening or switching files as needed).
    void record(const observation& o);

    const std::filesystem::path& dir() const { return dir_; }
    std::chrono::seconds interval() const { return interval_; }

private:
    bool open_for(const period& p);

    std::filesystem::path dir_;
    std::chrono::seconds interval_;
    std::size_t max_records_;
    period current_{};
    int fd_ = -1;
    std::size_t count_ = 0;
    bool warned_ = false;
};

} // namespace splitmail::relay::dmarc
