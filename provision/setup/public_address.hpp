#pragma once
// Whether an address given to `provision relay` as the relay's public one can be reached from
// the internet: private (RFC 1918), shared/CGNAT (RFC 6598), loopback, link-local,
// documentation (RFC 5737 / RFC 3849), benchmarking, multicast and reserved ranges (RFC 6890)
// cannot, so the A/AAAA record, SPF and the WireGuard endpoint made from them would not work.
//
// Guarantees: pure; "" for a global unicast address, else the name of the range and its RFC.
// Does not: refuse anything (the caller warns: tests and staging use documentation addresses
// on purpose). splitmail-ddns classifies the home's addresses with its own table
// (ddns/address.hpp; programs do not include each other).
#include <string>
#include <string_view>

namespace splitmail::provision::setup {

std::string not_public_reason(std::string_view ip);

} // namespace splitmail::provision::setup
