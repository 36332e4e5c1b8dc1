"""Ren'Py export: the script subset we write, its writer and a parser that validates exactly that subset."""
