// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

import {TraceAnchor} from "../TraceAnchor.sol";

/// @dev The few cheatcodes these tests use; npm's forge-std is stale, so we declare them here.
interface Vm {
    function prank(address sender) external;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit() external;
    function roll(uint256 newHeight) external;
    function warp(uint256 newTimestamp) external;
}

contract TraceAnchorTest {
    Vm private constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    address private constant STRANGER = address(0xBEEF);
    bytes32 private constant ROOT = keccak256("root");
    bytes32 private constant LOT = keccak256("lot 2026-11-25 A");
    bytes32 private constant NOTICE = keccak256("recall notice 1");

    TraceAnchor private registry;

    function setUp() public {
        registry = new TraceAnchor(address(this));
        vm.roll(100);
        vm.warp(1_764_000_000);
    }

    // ---- anchoring ----

    function testAnchorStoresRoot() public {
        registry.anchor(ROOT, 3);
        (uint64 blockNumber, uint64 timestamp, uint64 leafCount, address submitter) = registry.anchorOf(ROOT);
        require(blockNumber == 100, "blockNumber");
        require(timestamp == 1_764_000_000, "timestamp");
        require(leafCount == 3, "leafCount");
        require(submitter == address(this), "submitter");
        require(registry.isAnchored(ROOT), "isAnchored");
    }

    function testAnchorEmitsRootAnchored() public {
        vm.expectEmit();
        emit TraceAnchor.RootAnchored(ROOT, 3, address(this));
        registry.anchor(ROOT, 3);
    }

    function testUnanchoredRootIsAllZero() public view {
        (uint64 blockNumber, uint64 timestamp, uint64 leafCount, address submitter) = registry.anchorOf(ROOT);
        require(blockNumber == 0 && timestamp == 0 && leafCount == 0 && submitter == address(0), "not zero");
        require(!registry.isAnchored(ROOT), "isAnchored");
    }

    function testAnchorTwiceReverts() public {
        registry.anchor(ROOT, 3);
        vm.roll(101);
        vm.expectRevert(abi.encodeWithSelector(TraceAnchor.TraceAnchorRootAlreadyAnchored.selector, ROOT, 100));
        registry.anchor(ROOT, 5);
    }

    function testAnchorZeroRootReverts() public {
        vm.expectRevert(abi.encodeWithSelector(TraceAnchor.TraceAnchorEmptyRoot.selector));
        registry.anchor(bytes32(0), 1);
    }

    function testAnchorZeroLeafCountReverts() public {
        vm.expectRevert(abi.encodeWithSelector(TraceAnchor.TraceAnchorZeroLeafCount.selector));
        registry.anchor(ROOT, 0);
    }

    function testAnchorNeedsAnchorerRole() public {
        bytes32 role = registry.ANCHORER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        vm.prank(STRANGER);
        registry.anchor(ROOT, 1);
    }

    function testGrantedAnchorerCanAnchor() public {
        registry.grantRole(registry.ANCHORER_ROLE(), STRANGER);
        vm.prank(STRANGER);
        registry.anchor(ROOT, 1);
        (,,, address submitter) = registry.anchorOf(ROOT);
        require(submitter == STRANGER, "submitter");
    }

    function testAdminHoldsAllRoles() public view {
        require(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), address(this)), "admin");
        require(registry.hasRole(registry.ANCHORER_ROLE(), address(this)), "anchorer");
        require(registry.hasRole(registry.RECALLER_ROLE(), address(this)), "recaller");
        require(registry.ANCHORER_ROLE() == keccak256("ANCHORER_ROLE"), "ANCHORER_ROLE value");
        require(registry.RECALLER_ROLE() == keccak256("RECALLER_ROLE"), "RECALLER_ROLE value");
    }

    // ---- proofs ----

    function _leaf(bytes32 digest) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(digest))));
    }

    function _node(bytes32 a, bytes32 b) private pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    /// @dev Three digests, tree ((L0, L1), L2), built by hand with the sorted-pair rule.
    function _threeLeafTree() private pure returns (bytes32[3] memory d, bytes32 n01, bytes32 root) {
        d = [keccak256("event 0"), keccak256("event 1"), keccak256("event 2")];
        n01 = _node(_leaf(d[0]), _leaf(d[1]));
        root = _node(n01, _leaf(d[2]));
    }

    function testVerifyLeafAcceptsValidProofs() public {
        (bytes32[3] memory d, bytes32 n01, bytes32 root) = _threeLeafTree();
        registry.anchor(root, 3);

        bytes32[] memory proof = new bytes32[](2);
        proof[0] = _leaf(d[1]);
        proof[1] = _leaf(d[2]);
        require(registry.verifyLeaf(root, d[0], proof), "leaf 0");
        proof[0] = _leaf(d[0]);
        require(registry.verifyLeaf(root, d[1], proof), "leaf 1");

        bytes32[] memory short = new bytes32[](1);
        short[0] = n01;
        require(registry.verifyLeaf(root, d[2], short), "leaf 2");
    }

    function testVerifyLeafRejectsWrongProofs() public {
        (bytes32[3] memory d, bytes32 n01, bytes32 root) = _threeLeafTree();
        registry.anchor(root, 3);

        bytes32[] memory proof = new bytes32[](1);
        proof[0] = n01;
        require(!registry.verifyLeaf(root, keccak256("event 3"), proof), "unknown digest");
        require(!registry.verifyLeaf(root, d[0], proof), "proof of another leaf");
        // The inner node itself must not pass as a leaf (the reason leaves are hashed twice).
        require(!registry.verifyLeaf(root, n01, new bytes32[](0)), "empty proof");
        proof[0] = _leaf(d[2]);
        require(!registry.verifyLeaf(root, n01, proof), "inner node as digest");
    }

    function testVerifyLeafFalseForUnanchoredRoot() public view {
        (bytes32[3] memory d, bytes32 n01, bytes32 root) = _threeLeafTree();
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = n01;
        require(!registry.verifyLeaf(root, d[2], proof), "unanchored root");
    }

    function testVerifyLeafSingleLeafTree() public {
        bytes32 digest = keccak256("only event");
        registry.anchor(_leaf(digest), 1);
        require(registry.verifyLeaf(_leaf(digest), digest, new bytes32[](0)), "single leaf");
    }

    /// @dev Pinned output of scripts/oz-merkle.cjs (@openzeppelin/merkle-tree StandardMerkleTree)
    /// for the four digests sha256("event-0") .. sha256("event-3"); proof of the third one.
    function testVerifyLeafAcceptsOpenZeppelinTreeProof() public {
        bytes32 root = 0x6006bb99158a37f67f3d3b8c78e6165c8542fbb4965556a4484174d2cfbc0f32;
        bytes32 digest = 0xb4e3d14e7519279e6a352f776d75a905a9de9a27efdb6d802fe4e700224ade2e;
        bytes32[] memory proof = new bytes32[](2);
        proof[0] = 0xbccb53755524f52fe2aa4ec77e0796bda91411c07f5a5604ac178a7ab85e3d29;
        proof[1] = 0x1b39e69521568fdbe9410ebc1dfa66a8d3557326f10438b8002a5fb8493c3c74;
        registry.anchor(root, 4);
        require(registry.verifyLeaf(root, digest, proof), "OpenZeppelin proof");
        proof[1] = bytes32(uint256(proof[1]) ^ 1);
        require(!registry.verifyLeaf(root, digest, proof), "flipped bit");
    }

    // ---- recall notices ----

    function testRecallNoticeStoresNotice() public {
        registry.recallNotice(LOT, NOTICE);
        (bytes32 lotRef, uint64 blockNumber, uint64 timestamp, address submitter) = registry.noticeOf(NOTICE);
        require(lotRef == LOT, "lotRef");
        require(blockNumber == 100, "blockNumber");
        require(timestamp == 1_764_000_000, "timestamp");
        require(submitter == address(this), "submitter");
    }

    function testRecallNoticeEmitsRecallNoticeRecorded() public {
        vm.expectEmit();
        emit TraceAnchor.RecallNoticeRecorded(LOT, NOTICE, address(this));
        registry.recallNotice(LOT, NOTICE);
    }

    function testUnrecordedNoticeIsAllZero() public view {
        (bytes32 lotRef, uint64 blockNumber, uint64 timestamp, address submitter) = registry.noticeOf(NOTICE);
        require(lotRef == 0 && blockNumber == 0 && timestamp == 0 && submitter == address(0), "not zero");
    }

    function testRecallNoticeTwiceReverts() public {
        registry.recallNotice(LOT, NOTICE);
        vm.roll(101);
        vm.expectRevert(abi.encodeWithSelector(TraceAnchor.TraceAnchorNoticeAlreadyRecorded.selector, NOTICE, 100));
        registry.recallNotice(keccak256("another lot"), NOTICE);
    }

    function testRecallNoticeZeroDigestReverts() public {
        vm.expectRevert(abi.encodeWithSelector(TraceAnchor.TraceAnchorEmptyNotice.selector));
        registry.recallNotice(LOT, bytes32(0));
    }

    function testRecallNoticeNeedsRecallerRole() public {
        bytes32 role = registry.RECALLER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        vm.prank(STRANGER);
        registry.recallNotice(LOT, NOTICE);
    }

    function testAnchorerCannotRecall() public {
        registry.grantRole(registry.ANCHORER_ROLE(), STRANGER);
        bytes32 role = registry.RECALLER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, STRANGER, role)
        );
        vm.prank(STRANGER);
        registry.recallNotice(LOT, NOTICE);
    }
}
