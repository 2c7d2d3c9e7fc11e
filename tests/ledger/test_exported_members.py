import detente.ledger as ledger


def test_all_names_exist_and_are_unique():
    assert len(set(ledger.__all__)) == len(ledger.__all__)
    for name in ledger.__all__:
        member = getattr(ledger, name)
        module = getattr(member, "__module__", "detente.ledger")
        assert module.startswith(("detente.ledger", "cryptography")), (name, module)


def test_the_ledger_package_stays_below_the_service_and_edges():
    import ast
    from pathlib import Path

    root = Path(ledger.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(
                    ("detente.service", "detente.cli", "detente.api", "detente.web")), path
    # The Merkle tree and the verifier import no storage and nothing of each other.
    for name, banned in (("tree.py", ("sqlalchemy", "detente.store", "detente.ledger.verify")),
                         ("verify.py", ("sqlalchemy", "detente.store", "detente.ledger.tree"))):
        source = (root / name).read_text()
        for word in banned:
            assert f"import {word}" not in source and f"from {word}" not in source, (name, word)
