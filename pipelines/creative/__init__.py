"""The creative studio: visual-novel projects, their characters, scenes, images, voices and Ren'Py export."""
