// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Time} from "@openzeppelin/contracts/utils/types/Time.sol";

/// @title TraceAnchor
/// @notice Anchors Merkle roots of traceability events for infant formula and records recall
/// notices, so anyone holding an event and its proof can check it was committed at a given block.
/// @dev Leaves follow OpenZeppelin's StandardMerkleTree for the value type ["bytes32"]:
/// leaf = keccak256(bytes.concat(keccak256(abi.encode(digest)))), inner nodes hash sorted pairs.
/// The double hash keeps a 64-byte inner node from ever being taken for a leaf.
contract TraceAnchor is AccessControl {
    /// @notice Role allowed to anchor Merkle roots.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");
    /// @notice Role allowed to record recall notices.
    bytes32 public constant RECALLER_ROLE = keccak256("RECALLER_ROLE");

    /// @dev Two storage slots: (submitter, blockNumber, timestamp) and (leafCount).
    /// A non-zero submitter marks the root as anchored: msg.sender is never the zero address.
    struct Anchor {
        address submitter;
        uint48 blockNumber;
        uint48 timestamp;
        uint64 leafCount;
    }

    /// @dev Two storage slots: (lotRef) and (submitter, blockNumber, timestamp).
    struct Notice {
        bytes32 lotRef;
        address submitter;
        uint48 blockNumber;
        uint48 timestamp;
    }

    mapping(bytes32 root => Anchor) private _anchors;
    mapping(bytes32 noticeDigest => Notice) private _notices;

    /// @notice The root to anchor is zero.
    error TraceAnchorEmptyRoot();
    /// @notice The tree to anchor has no leaves.
    error TraceAnchorZeroLeafCount();
    /// @notice `root` was already anchored, at `blockNumber`.
    error TraceAnchorRootAlreadyAnchored(bytes32 root, uint256 blockNumber);
    /// @notice The notice digest to record is zero.
    error TraceAnchorEmptyNotice();
    /// @notice `noticeDigest` was already recorded, at `blockNumber`.
    error TraceAnchorNoticeAlreadyRecorded(bytes32 noticeDigest, uint256 blockNumber);

    /// @notice `submitter` anchored `root`, the Merkle root of `leafCount` event digests.
    event RootAnchored(bytes32 indexed root, uint256 leafCount, address indexed submitter);
    /// @notice `submitter` recorded the recall notice `noticeDigest` for lot `lotRef`.
    event RecallNoticeRecorded(bytes32 indexed lotRef, bytes32 indexed noticeDigest, address indexed submitter);

    /// @notice Deploys the registry with `admin` holding the admin, anchorer and recaller roles.
    /// @param admin Account that may anchor, record notices and grant or revoke roles.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, admin);
        _grantRole(RECALLER_ROLE, admin);
    }

    /// @notice Anchors `root`, the Merkle root of a batch of `leafCount` event digests.
    /// @dev Reverts with TraceAnchorEmptyRoot, TraceAnchorZeroLeafCount or
    /// TraceAnchorRootAlreadyAnchored; a root is anchored once and never changes.
    /// @param root Merkle root of the batch (StandardMerkleTree, leaf type bytes32).
    /// @param leafCount Number of leaves in the tree, at least one.
    function anchor(bytes32 root, uint64 leafCount) external onlyRole(ANCHORER_ROLE) {
        if (root == bytes32(0)) revert TraceAnchorEmptyRoot();
        if (leafCount == 0) revert TraceAnchorZeroLeafCount();
        Anchor storage a = _anchors[root];
        if (a.submitter != address(0)) revert TraceAnchorRootAlreadyAnchored(root, a.blockNumber);
        _anchors[root] = Anchor({
            submitter: msg.sender,
            blockNumber: Time.blockNumber(),
            timestamp: Time.timestamp(),
            leafCount: leafCount
        });
        emit RootAnchored(root, leafCount, msg.sender);
    }

    /// @notice Returns where and by whom `root` was anchored; all zero when it was not.
    /// @param root Merkle root to look up.
    /// @return blockNumber Block that anchored the root.
    /// @return timestamp Timestamp of that block, in seconds since the Unix epoch.
    /// @return leafCount Number of leaves the submitter declared.
    /// @return submitter Account that anchored the root.
    function anchorOf(bytes32 root)
        external
        view
        returns (uint64 blockNumber, uint64 timestamp, uint64 leafCount, address submitter)
    {
        Anchor storage a = _anchors[root];
        return (a.blockNumber, a.timestamp, a.leafCount, a.submitter);
    }

    /// @notice Tells whether `root` has been anchored.
    /// @param root Merkle root to look up.
    /// @return True when `root` was anchored.
    function isAnchored(bytes32 root) external view returns (bool) {
        return _anchors[root].submitter != address(0);
    }

    /// @notice Checks that `digest` is a leaf of the anchored tree `root`.
    /// @dev Returns false, rather than reverting, when `root` is not anchored.
    /// @param root Anchored Merkle root.
    /// @param digest Event digest whose membership is checked.
    /// @param proof Sibling hashes from the leaf up to the root (StandardMerkleTree.getProof).
    /// @return True when `root` is anchored and `proof` leads from `digest`'s leaf to it.
    function verifyLeaf(bytes32 root, bytes32 digest, bytes32[] calldata proof) external view returns (bool) {
        if (_anchors[root].submitter == address(0)) return false;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(digest))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @notice Records the recall notice `noticeDigest` for lot `lotRef`.
    /// @dev Reverts with TraceAnchorEmptyNotice or TraceAnchorNoticeAlreadyRecorded; a notice is
    /// recorded once and never changes.
    /// @param lotRef Reference of the recalled lot (a hash of its identifier).
    /// @param noticeDigest Digest of the recall notice document.
    function recallNotice(bytes32 lotRef, bytes32 noticeDigest) external onlyRole(RECALLER_ROLE) {
        if (noticeDigest == bytes32(0)) revert TraceAnchorEmptyNotice();
        Notice storage n = _notices[noticeDigest];
        if (n.submitter != address(0)) revert TraceAnchorNoticeAlreadyRecorded(noticeDigest, n.blockNumber);
        _notices[noticeDigest] = Notice({
            lotRef: lotRef,
            submitter: msg.sender,
            blockNumber: Time.blockNumber(),
            timestamp: Time.timestamp()
        });
        emit RecallNoticeRecorded(lotRef, noticeDigest, msg.sender);
    }

    /// @notice Returns the lot, block and submitter of the recall notice `noticeDigest`; all zero
    /// when it was not recorded.
    /// @param noticeDigest Digest of the recall notice document.
    /// @return lotRef Reference of the recalled lot.
    /// @return blockNumber Block that recorded the notice.
    /// @return timestamp Timestamp of that block, in seconds since the Unix epoch.
    /// @return submitter Account that recorded the notice.
    function noticeOf(bytes32 noticeDigest)
        external
        view
        returns (bytes32 lotRef, uint64 blockNumber, uint64 timestamp, address submitter)
    {
        Notice storage n = _notices[noticeDigest];
        return (n.lotRef, n.blockNumber, n.timestamp, n.submitter);
    }
}
