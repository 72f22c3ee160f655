/* SPDX-License-Identifier: MIT */
#include "proto/proto.h"

const char *proto_request_name(dhp_rebalance_request req) {
        switch (req) {
        case DHP_REBALANCE_QUERY_STOP: return "QUERY_STOP";
        case DHP_REBALANCE_CANCEL_STOP: return "CANCEL_STOP";
        case DHP_REBALANCE_STOP: return "STOP";
        case DHP_REBALANCE_START: return "START";
        }
        return "?";
}
