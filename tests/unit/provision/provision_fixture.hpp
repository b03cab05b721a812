#pragma once
// Shared helpers of the `splitmail provision` tests: a temporary --root, running the command
// with captured output, reading files and modes.
#include "commands/provision.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace provision_test {

namespace fs = std::filesystem;

struct result {
    int code = -1;
    std::string out, err;
};

inline result run(std::vector<std::string> args) {
    std::ostringstream out, err;
    result r;
    r.code = splitmail::provision::run_provision(args, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
}

inline std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

inline void spit(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

inline unsigned mode_of(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

// Lines of `text` that do not start with `prefix`.
inline std::vector<std::string> lines_without(const std::string& text, const std::string& prefix) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (l.rfind(prefix, 0) != 0) out.push_back(l);
    return out;
}

inline int count_lines(const std::string& text, const std::string& prefix) {
    int n = 0;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) n += l.rfind(prefix, 0) == 0;
    return n;
}

struct temp_root {
    fs::path path;
    temp_root() {
        std::string t = (fs::temp_directory_path() / "provision-test-XXXXXX").string();
        path = ::mkdtemp(t.data());
    }
    ~temp_root() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path operator/(const std::string& rel) const { return path / rel; }
};

inline std::vector<std::string> relay_args(const fs::path& root) {
    return {"relay",       "--domain",       "example.com",      "--domain",    "example.org",
            "--hostname",  "mx.example.com", "--public-ipv4",    "203.0.113.5", "--public-ipv6",
            "2001:db8::5", "--imap-host",    "imap.example.com", "--root",      root.string()};
}

} // namespace provision_test
