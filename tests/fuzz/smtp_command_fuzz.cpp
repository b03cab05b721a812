// Fuzz target: line framer + command parser + MAIL/RCPT argument parsing.
// Invariants (abort on violation): lines never exceed the limit, never contain LF; parsed
// addresses re-serialise to something that parses back to the same mailbox.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "splitmail/address/address.hpp"
#include "splitmail/smtp/command.hpp"
#include "splitmail/smtp/line_framer.hpp"

using namespace splitmail;

namespace {
void check_mailbox(const address::mailbox& m) {
    if (m.domain.empty()) return;
    auto back = address::parse_mailbox(m.to_string());
    if (!back || !(*back == m)) std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    // First byte chooses the split size so the framer sees many chunkings.
    std::size_t chunk = size ? (data[0] % 17) + 1 : 1;
    smtp::line_framer f(size && (data[0] & 0x80) ? 64 : 1000);
    for (std::size_t pos = 0; pos < in.size(); pos += chunk) {
        f.feed(in.substr(pos, chunk));
        while (true) {
            auto r = f.next();
            if (r.st == smtp::line_framer::status::need_more) break;
            if (r.st == smtp::line_framer::status::too_long) continue;
            if (r.line.size() + 2 > f.max_line() || r.line.find('\n') != std::string::npos)
                std::abort();
            auto cmd = smtp::parse_command(r.line);
            if (cmd.v == smtp::verb::mail || cmd.v == smtp::verb::unknown) {
                auto mf = smtp::parse_mail_from(cmd.args);
                if (mf) {
                    check_mailbox(mf->sender);
                    if (mf->null_sender != mf->sender.empty()) std::abort();
                } else if (mf.error().code != 501 && mf.error().code != 555) {
                    std::abort();
                }
            }
            if (cmd.v == smtp::verb::rcpt || cmd.v == smtp::verb::unknown) {
                auto rt = smtp::parse_rcpt_to(cmd.args);
                if (rt) {
                    check_mailbox(rt->recipient);
                    if (!rt->orcpt.empty() && !smtp::xtext_decode(rt->orcpt)) std::abort();
                } else if (rt.error().code != 501 && rt.error().code != 555) {
                    std::abort();
                }
            }
        }
    }
    return 0;
}
