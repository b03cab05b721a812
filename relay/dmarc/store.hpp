#pragma once
// The relay's side of the DMARC report records (splitmail/dmarc/records.hpp): the recorder
// that appends one observation per inbound message at the end of DATA.
//
// The recorder appends on the io thread with one write(2) of one line to a file opened
// O_APPEND (a page-cache copy of a few hundred octets, no fsync): cheap enough for the end of
// DATA, and a line is never interleaved with another. A crash loses at most what the kernel
// had not written back; reports are statistics, never mail, so that is accepted.
// Bounded: at most `max_records` lines per period (the next are dropped, with one warning in
// the log per period); a line longer than max_line is dropped. A restart within a period
// continues its count (the file's lines are counted once when it is opened).
// Does not: build or send reports (report_job.hpp).
#include "splitmail/dmarc/records.hpp"

#include <chrono>
#include <filesystem>

namespace splitmail::relay::dmarc {

using splitmail::dmarc::decode;
using splitmail::dmarc::dkim_auth;
using splitmail::dmarc::encode;
using splitmail::dmarc::list_periods;
using splitmail::dmarc::mark_sent;
using splitmail::dmarc::max_dkim;
using splitmail::dmarc::max_line;
using splitmail::dmarc::observation;
using splitmail::dmarc::parse_period_file_name;
using splitmail::dmarc::period;
using splitmail::dmarc::period_file_name;
using splitmail::dmarc::period_of;
using splitmail::dmarc::prune;
using splitmail::dmarc::read_period;
using splitmail::dmarc::read_result;
using splitmail::dmarc::stored_period;
using splitmail::dmarc::valid_dkim_result;
using splitmail::dmarc::valid_spf_result;

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
