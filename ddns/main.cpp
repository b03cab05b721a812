// splitmail-ddns: keeps the home's A/AAAA records on deSEC current. All logic is in ddns_lib
// (runner.cpp, agent.cpp) so tests can link it; this file only hands over the command line.
#include "runner.hpp"

int main(int argc, char** argv) { return splitmail::ddns::main_with_args(argc, argv); }
