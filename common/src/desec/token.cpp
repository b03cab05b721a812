// Reading the deSEC token file: see token.hpp.
#include "splitmail/desec/token.hpp"
#include "splitmail/durable/file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace splitmail::desec {

std::expected<std::string, std::string> read_token_file(const std::filesystem::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0)
        return std::unexpected(file.string() + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return std::unexpected(file.string() + ": not a regular file");
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return std::unexpected(file.string() +
                               ": the token file is accessible by group or "
                               "others (mode " +
                               mode + "); refusing to use it: chmod 600 " + file.string());
    }
    auto read = durable::read_file(file, {64 << 10}); // a token is 28 characters
    if (!read) return std::unexpected(read.error().text());
    std::string t = std::move(*read);
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!t.empty() && space(t.back())) t.pop_back();
    std::size_t b = 0;
    while (b < t.size() && space(t[b])) ++b;
    t.erase(0, b);
    if (t.empty()) return std::unexpected(file.string() + ": the token file is empty");
    // The token goes into an HTTP header: anything but visible ASCII would corrupt the request.
    for (char c : t)
        if (c < 0x21 || c > 0x7e)
            return std::unexpected(file.string() + ": the token contains invalid characters "
                                                   "(expected one line of visible ASCII)");
    return t;
}

} // namespace splitmail::desec
