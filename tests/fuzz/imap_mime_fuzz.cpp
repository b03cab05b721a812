// Fuzz target: the MIME parser and the BODYSTRUCTURE/ENVELOPE/section code on arbitrary
// messages. Invariants: no crash; every part's offsets lie inside the message and are ordered.
#include "imap/mime.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace splitmail::home::imap;

static void check(const mime::part& p, std::size_t size) {
    if (!(p.begin <= p.body_begin && p.body_begin <= p.end && p.end <= size)) std::abort();
    for (const auto& c : p.children) check(c, size);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view m(reinterpret_cast<const char*>(data), size);
    auto t = mime::parse(m);
    check(t, m.size());
    (void)mime::body_structure(m, t, true);
    (void)mime::body_structure(m, t, false);
    (void)mime::envelope(mime::header_of(m, t));
    (void)mime::select_fields(mime::header_of(m, t), {"From", "Subject"}, false);
    (void)mime::fields(mime::header_of(m, t), "X-Extra");
    (void)mime::find_part(t, {1, 2, 1});
    (void)mime::find_part(t, {2});
    (void)mime::find_part(t, {1, 2, 1, 1});
    return 0;
}
