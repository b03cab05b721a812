// The per-period observation files; see store.hpp.
#include "dmarc/store.hpp"

#include "splitmail/durable/file.hpp"
#include "splitmail/log/log.hpp"

#include <algorithm>
#include <charconv>
#include <fcntl.h>
#include <unistd.h>

namespace splitmail::relay::dmarc {

namespace fs = std::filesystem;

period period_of(std::int64_t now, std::chrono::seconds interval) {
    const std::int64_t len = std::max<std::int64_t>(1, interval.count());
    const std::int64_t begin = now >= 0 ? now / len * len : ((now - len + 1) / len) * len;
    return {begin, begin + len};
}

std::string period_file_name(const period& p, std::string_view ext) {
    return "records-" + std::to_string(p.begin) + "-" + std::to_string(p.end) + "." +
           std::string(ext);
}

std::optional<period> parse_period_file_name(std::string_view name, std::string_view ext) {
    constexpr std::string_view prefix = "records-";
    if (!name.starts_with(prefix)) return std::nullopt;
    name.remove_prefix(prefix.size());
    const std::string suffix = "." + std::string(ext);
    if (!name.ends_with(suffix)) return std::nullopt;
    name.remove_suffix(suffix.size());
    const auto dash = name.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    period p;
    auto parse = [](std::string_view s, std::int64_t& out) {
        if (s.empty() || s.size() > 18) return false;
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc() && ptr == s.data() + s.size() && out >= 0;
    };
    if (!parse(name.substr(0, dash), p.begin) || !parse(name.substr(dash + 1), p.end) ||
        p.end <= p.begin)
        return std::nullopt;
    return p;
}

std::vector<stored_period> list_periods(const fs::path& dir) {
    std::vector<stored_period> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const auto name = e.path().filename().string();
        if (auto p = parse_period_file_name(name, "log"))
            out.push_back({*p, e.path(), fs::exists(dir / period_file_name(*p, "sent"), ec)});
    }
    std::sort(out.begin(), out.end(),
              [](const stored_period& a, const stored_period& b) { return a.p.begin < b.p.begin; });
    return out;
}

std::expected<read_result, std::string> read_period(const fs::path& log) {
    // The recorder's caps bound the file: max_records lines of at most max_line octets.
    durable::read_options opt;
    opt.max_size = std::size_t{1} << 30;
    auto text = durable::read_file(log, opt);
    if (!text) return std::unexpected(text.error().text());
    read_result r;
    std::string_view rest = *text;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        if (nl == std::string_view::npos) { // a line cut by a crash
            ++r.bad_lines;
            break;
        }
        auto o = decode(rest.substr(0, nl));
        if (o) r.records.push_back(std::move(*o));
        else ++r.bad_lines;
        rest.remove_prefix(nl + 1);
    }
    return r;
}

std::error_code mark_sent(const fs::path& dir, const period& p) {
    auto r = durable::replace_file(dir / period_file_name(p, "sent"), std::string_view("sent\n"));
    return r ? std::error_code() : r.error().code;
}

void prune(const fs::path& dir, std::int64_t before) {
    std::error_code ec;
    for (const auto& sp : list_periods(dir)) {
        if (!sp.sent || sp.p.end >= before) continue;
        fs::remove(sp.log, ec);
        fs::remove(dir / period_file_name(sp.p, "sent"), ec);
    }
}

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
            log::warn("dmarc", "", "dmarc_reports.max_records reached: not recording more "
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
