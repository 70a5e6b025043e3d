"""Frame sources: image folders and globs (here), video, ROS bags and MCAP, point clouds."""
