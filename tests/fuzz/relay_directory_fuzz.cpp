// Fuzz target: the relay's copy of home's recipient list (relay/recipients/directory.hpp):
// the XDIRECTORY reply from home (parse_xdirectory) and the recipients.json cache it writes to
// and reads back from disk (update, load_cache). Input: a selector byte, then either the reply
// lines (separated by LF) or the bytes of a recipients.json file.
// Invariants (abort on violation):
// - an accepted reply has a version, and every recipient is lower-case and contains '@';
// - what update() writes, load_cache() reads back to the same snapshot (the relay restarts
//   with exactly the list it had), and every listed recipient of a relay domain is then
//   local_ok in any letter case, while a domain that is not ours is never local_ok;
// - a cache file load_cache() refuses is moved aside (*.corrupt), never left to fail again.
#include "recipients/directory.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

using namespace splitmail::relay;
namespace fs = std::filesystem;

namespace {
fs::path work_dir_path() {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    return base / ("splitmail-dirfuzz-" + std::to_string(::getpid()));
}

const fs::path& work_dir() {
    static const fs::path dir = [] {
        auto d = work_dir_path();
        fs::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            fs::remove_all(work_dir_path(), ec);
        });
        return d;
    }();
    return dir;
}

std::string upper(std::string s) {
    for (auto& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return s;
}

void check_lookups(const recipient_directory& d, const directory_snapshot& s) {
    for (const auto& r : s.recipients) {
        auto at = r.rfind('@');
        auto local = r.substr(0, at), domain = r.substr(at + 1);
        if (!d.is_relay_domain(domain)) continue;
        if (d.check(local, domain) != rcpt_verdict::local_ok) std::abort();
        if (d.check(upper(local), upper(domain)) != rcpt_verdict::local_ok) std::abort();
    }
    if (d.check("postmaster", "not-ours.invalid") == rcpt_verdict::local_ok) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    auto file = work_dir() / "recipients.json";
    std::error_code ec;
    fs::remove(file, ec);
    fs::remove(fs::path(file).concat(".corrupt"), ec);

    if (data[0] & 1) {
        {
            std::ofstream out(file, std::ios::binary);
            out.write(in.data(), static_cast<std::streamsize>(in.size()));
        }
        recipient_directory d({"example.org"}, file);
        auto r = d.load_cache();
        if (!r) {
            if (fs::exists(file) || !fs::exists(fs::path(file).concat(".corrupt"))) std::abort();
            return 0;
        }
        if (!*r || !d.snapshot()) std::abort();
        for (const auto& x : d.snapshot()->recipients)
            for (char c : x)
                if (c >= 'A' && c <= 'Z') std::abort();
        check_lookups(d, *d.snapshot());
        return 0;
    }

    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start <= in.size()) {
        auto nl = in.find('\n', start);
        if (nl == std::string_view::npos) nl = in.size();
        lines.emplace_back(in.substr(start, nl - start));
        start = nl + 1;
    }
    auto snap = parse_xdirectory(lines);
    if (!snap) return 0;
    if (snap->version.empty()) std::abort();
    for (const auto& r : snap->recipients) {
        if (r.find('@') == std::string::npos) std::abort();
        for (char c : r)
            if (c >= 'A' && c <= 'Z') std::abort();
    }
    std::vector<std::string> ours(snap->domains.begin(), snap->domains.end());
    recipient_directory d(ours, file);
    auto written = d.update(*snap);
    if (!written) std::abort();
    check_lookups(d, *snap);

    recipient_directory again(ours, file);
    auto loaded = again.load_cache();
    if (!loaded || !*loaded || !again.snapshot()) std::abort();
    const auto& b = *again.snapshot();
    if (b.version != snap->version || b.delimiter != snap->delimiter ||
        b.domains != snap->domains || b.catchall != snap->catchall ||
        b.recipients != snap->recipients || b.fetched_at != snap->fetched_at)
        std::abort();
    check_lookups(again, b);
    return 0;
}
