#include "maildir/flags.hpp"

#include <algorithm>

namespace splitmail::home::maildir {

std::uint8_t flags_of_filename(std::string_view file) {
    auto p = file.find(":2,");
    if (p == std::string_view::npos) return 0;
    std::uint8_t f = 0;
    for (char c : file.substr(p + 3)) {
        switch (c) {
        case 'D': f |= flag_draft; break;
        case 'F': f |= flag_flagged; break;
        case 'R': f |= flag_answered; break;
        case 'S': f |= flag_seen; break;
        case 'T': f |= flag_deleted; break;
        default: break;
        }
    }
    return f;
}

std::uint32_t keywords_of_filename(std::string_view file) {
    auto p = file.find(":2,");
    if (p == std::string_view::npos) return 0;
    std::uint32_t k = 0;
    for (char c : file.substr(p + 3))
        if (c >= 'a' && c <= 'z') k |= 1u << (c - 'a');
    return k;
}

std::string with_flags(std::string_view file, std::uint8_t f, std::uint32_t keywords) {
    std::string base(file.substr(0, file.find(':')));
    std::string letters;
    auto p = file.find(":2,");
    if (p != std::string_view::npos)
        for (char c : file.substr(p + 3))
            if (std::string_view("DFRST").find(c) == std::string_view::npos &&
                !(c >= 'a' && c <= 'z') && c != ',' && c != ':')
                letters += c;
    if (f & flag_draft) letters += 'D';
    if (f & flag_flagged) letters += 'F';
    if (f & flag_answered) letters += 'R';
    if (f & flag_seen) letters += 'S';
    if (f & flag_deleted) letters += 'T';
    for (unsigned i = 0; i < max_keywords; ++i)
        if (keywords & (1u << i)) letters += static_cast<char>('a' + i);
    std::sort(letters.begin(), letters.end()); // maildir spec: info letters in ASCII order
    return base + ":2," + letters;
}

} // namespace splitmail::home::maildir
