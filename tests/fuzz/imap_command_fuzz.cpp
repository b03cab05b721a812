// Fuzz target: the IMAP command reader + tokenizer fed arbitrary bytes, split at a point chosen
// by the first byte. Invariants: no crash; the same commands come out for any split; a command
// the reader completes is tokenized without exceeding the depth limit.
#include "imap/codec.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

using namespace splitmail::home::imap;

static std::vector<std::string> drain(command_reader& r) {
    std::vector<std::string> out;
    while (true) {
        auto ev = r.next();
        if (ev == command_reader::event_kind::need_more) break;
        if (ev == command_reader::event_kind::complete) {
            out.push_back(r.text());
            auto c = parse_command(r.text(), 8);
            if (c) {
                for (auto& a : c->args)
                    if (a.is_atom()) (void)parse_sequence_set(a.text);
            }
        }
        if (ev == command_reader::event_kind::error) {
            out.push_back("ERR " + r.error_response());
            if (r.fatal()) break;
        }
    }
    return out;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::size_t split = data[0] % (in.size() + 1);
    codec_limits l;
    l.max_line = 256;
    l.max_literal = 128;
    l.max_append_literal = 1024;
    command_reader whole(l), parts(l);
    whole.feed(in);
    auto a = drain(whole);
    parts.feed(in.substr(0, split));
    auto b = drain(parts);
    parts.feed(in.substr(split));
    auto b2 = drain(parts);
    b.insert(b.end(), b2.begin(), b2.end());
    bool fatal = std::any_of(a.begin(), a.end(), [](auto& s) {
        return s.find("BAD [TOOBIG] Literal") != std::string::npos;
    });
    if (!fatal && a != b) std::abort();
    return 0;
}
